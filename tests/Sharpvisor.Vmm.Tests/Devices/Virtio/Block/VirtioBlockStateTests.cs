using System.Buffers.Binary;
using System.Diagnostics;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Block;

/// <summary>
/// virtio-blk's saved state: a write in flight completes before the quiesce returns, one stuck in the backend fails
/// the quiesce at its deadline, and requests posted while quiesced are served by the restored function, once.
/// </summary>
public sealed class VirtioBlockStateTests : IDisposable
{
    private const int DiskSize = 64 * 1024;
    private const int Queue = 0;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly MemoryDisk _disk = new(DiskSize);
    private readonly List<VirtioPciDriver> _drivers = [];

    public void Dispose()
    {
        _disk.Gate?.Set();
        foreach (var driver in _drivers)
        {
            driver.Dispose();
        }
    }

    private VirtioPciDriver Source()
    {
        var driver = Track(new VirtioPciDriver(new VirtioBlock(_disk, "snap")));
        driver.Start(driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex);
        return driver;
    }

    private VirtioPciDriver Track(VirtioPciDriver driver)
    {
        _drivers.Add(driver);
        return driver;
    }

    private static byte[] Pattern(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed + (i * 7)))];

    /// <summary>Adds [header][data][status] to the request queue without publishing it; returns the status byte's address.</summary>
    private static ulong Post(VirtioPciDriver driver, uint type, ulong sector, ulong data, bool toGuest)
    {
        Span<byte> header = stackalloc byte[16];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], sector);
        var status = driver.Allocate(1, 0xFF);
        driver.Queues[Queue]!.Add(new Buffer(driver.Allocate(header), 16), new Buffer(data, 512, Write: toGuest), new Buffer(status, 1, Write: true));
        return status;
    }

    [Fact]
    public void AWriteInFlightCompletesBeforeTheQuiesceReturnsAndRequestsPostedMeanwhileAreServedAfterTheRestore()
    {
        using var gate = new ManualResetEventSlim();
        _disk.Gate = gate;
        var source = Source();
        var first = Pattern(512, 7);
        var firstStatus = Post(source, BlockRequest.TypeOut, 2, source.Allocate(first), toGuest: false);
        source.Kick(Queue);
        Assert.True(_disk.WriteEntered.Wait(Deadline), "the write never reached the disk");

        StateException? failure = null;
        var quiesce = new Thread(() =>
        {
            try
            {
                source.Transport.Quiesce(Deadline);
            }
            catch (StateException e)
            {
                failure = e;
            }
        });
        quiesce.Start();
        Assert.False(quiesce.Join(100), "the quiesce returned with a write in flight");
        gate.Set();
        Assert.True(quiesce.Join(Deadline), "the quiesce did not return once the write completed");
        Assert.Null(failure);

        // Once the quiesce returns the write is complete: status, used entry and interrupt.
        Assert.Equal(BlockRequest.StatusOk, source.ReadGuest(firstStatus, 1)[0]);
        Assert.Single(source.Queues[Queue]!.TakeUsed());
        Assert.Equal(1, source.MsiCount(Queue));

        // Posted and notified while quiesced: a read of what was written and another write. Nothing happens.
        var readBuffer = source.Allocate(512, 0xEE);
        var readStatus = Post(source, BlockRequest.TypeIn, 2, readBuffer, toGuest: true);
        var second = Pattern(512, 9);
        var writeStatus = Post(source, BlockRequest.TypeOut, 3, source.Allocate(second), toGuest: false);
        source.Kick(Queue);
        Thread.Sleep(100);
        Assert.Equal(1, source.Queues[Queue]!.UsedIndex);
        Assert.Equal(1, _disk.Writes);

        var restored = Track(source.CopyGuestTo(new VirtioBlock(_disk, "snap")));
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.Equal(2, restored.WaitForUsed(Queue, 3).Count);
        Assert.Equal(first, restored.ReadGuest(readBuffer, 512));
        Assert.Equal(BlockRequest.StatusOk, restored.ReadGuest(readStatus, 1)[0]);
        Assert.Equal(BlockRequest.StatusOk, restored.ReadGuest(writeStatus, 1)[0]);
        Assert.Equal(second, _disk.Contents(3 * 512, 512));
        Assert.Equal(2, _disk.Writes); // once each: the quiesced source served nothing
        restored.WaitForMsi(Queue, 1);

        // And the restored disk goes on.
        var again = restored.Allocate(512, 0xEE);
        Post(restored, BlockRequest.TypeIn, 3, again, toGuest: true);
        restored.Kick(Queue);
        Assert.Single(restored.WaitForUsed(Queue, 4));
        Assert.Equal(second, restored.ReadGuest(again, 512));
        restored.WaitForMsi(Queue, 2);
    }

    [Fact]
    public void AFunctionQuiescedBeforeItsRestoreServesNothingUntilTheQuiesceEnds()
    {
        // A migration's destination: the source may still take the guest back, so its disk must not be written yet.
        var source = Source();
        source.Transport.Quiesce(Deadline);
        var data = Pattern(512, 3);
        var status = Post(source, BlockRequest.TypeOut, 5, source.Allocate(data), toGuest: false);
        source.Kick(Queue);
        var restored = Track(source.CopyGuestTo(new VirtioBlock(_disk, "snap")));
        restored.Transport.Quiesce(Deadline);

        restored.Transport.RestoreState(Save(source.Transport));
        Thread.Sleep(100);
        Assert.Equal(0, _disk.Writes);
        Assert.Equal(0, restored.Queues[Queue]!.UsedIndex);
        Assert.NotEmpty(restored.Doorbells.Registered); // notifies are caught meanwhile
        restored.Kick(Queue);

        restored.Transport.Unquiesce();
        Assert.Single(restored.WaitForUsed(Queue, 1));
        Assert.Equal(BlockRequest.StatusOk, restored.ReadGuest(status, 1)[0]);
        Assert.Equal(data, _disk.Contents(5 * 512, 512));
        Assert.Equal(1, _disk.Writes);
    }

    [Fact]
    public void AQuiesceWithAWriteStuckInTheBackendFailsAtItsDeadlineAndTheDiskGoesOn()
    {
        using var gate = new ManualResetEventSlim();
        _disk.Gate = gate;
        var source = Source();
        Post(source, BlockRequest.TypeOut, 0, source.Allocate(Pattern(512, 1)), toGuest: false);
        source.Kick(Queue);
        Assert.True(_disk.WriteEntered.Wait(Deadline), "the write never reached the disk");

        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<StateException>(() => source.Transport.Quiesce(TimeSpan.FromMilliseconds(200)));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(190), TimeSpan.FromSeconds(5));
        Assert.Contains("PCI slot 01: virtio-block", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);

        // Not quiesced, so not saved; and not held: once the backend answers, the disk serves as before.
        Assert.Throws<InvalidOperationException>(() => source.Transport.SaveState(new StatePayload()));
        gate.Set();
        Assert.Single(source.WaitForUsed(Queue, 1));
        Post(source, BlockRequest.TypeIn, 0, source.Allocate(512), toGuest: true);
        source.Kick(Queue);
        Assert.Single(source.WaitForUsed(Queue, 2));
    }

    [Fact]
    public void ARestoreOntoADiskOfAnotherSizeIsRefused()
    {
        var source = Source();
        source.Transport.Quiesce(Deadline);
        var section = Save(source.Transport);
        using var other = new VirtioPciDriver(new VirtioBlock(new MemoryDisk(2 * DiskSize), "snap"));

        AssertRefused(other.Transport, section, "a disk of 128 sectors, this one has 256: restore with the same --disk");
    }

    [Fact]
    public void DamagedSectionsAreRefused()
    {
        var source = Source();
        source.Transport.Quiesce(Deadline);
        using var target = new VirtioPciDriver(new VirtioBlock(new MemoryDisk(DiskSize), "snap"));

        AssertDamageRefused(target.Transport, Save(source.Transport));
    }
}
