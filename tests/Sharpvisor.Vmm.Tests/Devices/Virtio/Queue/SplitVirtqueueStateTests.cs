using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

/// <summary>A split virtqueue's runtime state: it goes on exactly where it stood, across the 16-bit wrap, in a copy of guest RAM.</summary>
public sealed class SplitVirtqueueStateTests : IDisposable
{
    private const ulong RamSize = 256 * 1024;
    private const ulong Data = 0x10000;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), RamSize)]);
    private readonly GuestMemory _copy = GuestMemory.Create([(new GuestAddress(0), RamSize)]);

    public void Dispose()
    {
        _memory.Dispose();
        _copy.Dispose();
    }

    private void CopyRam() => _memory.GetSpan(new GuestAddress(0), (int)RamSize).CopyTo(_copy.GetSpan(new GuestAddress(0), (int)RamSize));

    private static void Serve(GuestMemory memory, SplitVirtqueue queue, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.True(queue.TryPop(memory, out var chain));
            queue.Push(memory, chain.HeadIndex, (uint)(100 + i));
        }
    }

    [Fact]
    public void AQueueRestoredInACopyOfRamGoesOnAcrossTheIndexWrap()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.EventIndex, startIndex: 65534);
        var queue = driver.CreateDevice();
        for (var i = 0; i < 3; i++)
        {
            driver.Add(new Buffer(Data + (ulong)(64 * i), 64, Write: true));
        }

        driver.Kick();
        Serve(_memory, queue, 3);
        driver.SetUsedEvent(0); // an interrupt when the used index passes 0: it did (65535 -> 0 -> 1)
        Assert.True(queue.NeedsNotification(_memory));
        Assert.Equal(3, driver.TakeUsed().Count);

        var state = queue.State;
        Assert.Equal(new SplitVirtqueueState(1, 1, 1), state);

        // Two more buffers published while the VM moved; the copy of the driver and of RAM see them.
        driver.Add(new Buffer(Data + 0x1000, 64, Write: true));
        driver.Add(new Buffer(Data + 0x2000, 64, Write: true));
        driver.Kick();
        driver.SetUsedEvent(2);
        CopyRam();
        var copy = driver.CopyTo(_copy);
        Assert.True(SplitVirtqueue.TryRestore(_copy, driver.Config, state, out var restored, out var error), error);

        Serve(_copy, restored, 2);
        Assert.False(restored.TryPop(_copy, out _));
        Assert.Equal([100u, 101u], copy.TakeUsed().Select(u => u.Length));
        Assert.Equal(3, copy.UsedIndex);
        Assert.True(restored.NeedsNotification(_copy)); // 3 passed used_event 2 since 1
        Assert.False(restored.EnableNotifications(_copy));
        Assert.Equal(3, copy.AvailableEvent);
        Assert.Equal(new SplitVirtqueueState(3, 3, 3), restored.State);
    }

    [Fact]
    public void ARestoredQueueIsCheckedLikeANewOne()
    {
        var config = new SplitVirtqueueConfig(8, new GuestAddress(RamSize), new GuestAddress(0x3000), new GuestAddress(0x4000));

        Assert.False(SplitVirtqueue.TryRestore(_memory, config, new SplitVirtqueueState(5, 5, 5), out var queue, out var error));
        Assert.Null(queue);
        Assert.Contains("descriptor table", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((ushort)0, (ushort)0, (ushort)7, true)]
    [InlineData((ushort)65535, (ushort)65535, (ushort)0, true)]
    [InlineData((ushort)1, (ushort)0, (ushort)0, false)]
    [InlineData((ushort)0, (ushort)65535, (ushort)0, false)]
    public void OnlyAQueueWithNothingInFlightIsRead(ushort nextAvailable, ushort nextUsed, ushort signalled, bool valid)
    {
        var payload = new StatePayload();
        new SplitVirtqueueState(nextAvailable, nextUsed, signalled).Write(payload);
        var bytes = payload.WrittenSpan.ToArray();

        var read = Read(bytes);

        if (valid)
        {
            Assert.Null(read.Error);
            Assert.Equal(new SplitVirtqueueState(nextAvailable, nextUsed, signalled), read.State);
        }
        else
        {
            Assert.Equal($"section TEST: queue 2 has {(ushort)(nextAvailable - nextUsed)} chains in flight (next available {nextAvailable}, next used {nextUsed}): it was saved without a quiesce", read.Error);
        }
    }

    private static (SplitVirtqueueState State, string? Error) Read(byte[] bytes)
    {
        try
        {
            var reader = new StatePayloadReader(bytes, "TEST");
            var state = SplitVirtqueueState.Read(ref reader, "TEST", 2);
            reader.ExpectEnd();
            return (state, null);
        }
        catch (StateException e)
        {
            return (default, e.Message);
        }
    }
}
