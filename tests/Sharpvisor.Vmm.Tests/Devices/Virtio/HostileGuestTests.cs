using System.Buffers.Binary;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Vmm.Devices;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Net;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;
using Sharpvisor.Storage;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio;

/// <summary>
/// What a hostile driver does after the parsers have accepted its buffers: huge overlapping chains, runt frames,
/// reset loops, a backend that never returns, DMA with Bus Master off. Each of these hung, filled or broke the
/// device before; each must now end promptly with the VMM and the other devices unharmed.
/// </summary>
public sealed class HostileGuestTests
{
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(60);

    /// <summary>A disk that only counts what it is asked, and can be made to hang in a write until released.</summary>
    private sealed class ProbeDisk(ulong size) : IBlockBackend
    {
        private long _writes;
        private long _bytesWritten;

        public ManualResetEventSlim WriteEntered { get; } = new();

        public ManualResetEventSlim? HoldWrites { get; init; }

        public ulong Size { get; } = size;

        public bool ReadOnly => false;

        public long Writes => Interlocked.Read(ref _writes);

        public long BytesWritten => Interlocked.Read(ref _bytesWritten);

        public long Reads { get; private set; }

        public void Read(long offset, Span<byte> destination) => Reads++;

        public void Write(long offset, ReadOnlySpan<byte> source)
        {
            Interlocked.Increment(ref _writes);
            Interlocked.Add(ref _bytesWritten, source.Length);
            WriteEntered.Set();
            _ = HoldWrites?.Wait(Ceiling * 2); // a backend stuck in the host's storage
        }

        public void Flush()
        {
        }

        public void Discard(long offset, long length)
        {
        }

        public void WriteZeroes(long offset, long length)
        {
        }

        public void Dispose()
        {
        }
    }

    private static ulong BlockHeader(VirtioPciDriver driver, uint type, ulong sector)
    {
        Span<byte> header = stackalloc byte[16];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], sector);
        return driver.Allocate(header);
    }

    [Fact]
    public void AConsoleTransmitOfNearly4GiBFromOverlappingBuffersIsDroppedNotLoopedOver()
    {
        // 64 descriptors over the same 64 MiB of RAM: 0xFFFF_FFFF readable bytes, past the point where a 32-bit offset
        // stepping by 64 KiB wraps to 0 and never reaches the end.
        const uint Piece = 64 << 20;
        var memory = GuestMemory.Create([(new GuestAddress(0), Piece)]);
        using var driver = new VirtioPciDriver(new VirtioConsole(Stream.Null), memory);
        driver.Start(queueSize: 64);
        var buffers = Enumerable.Range(0, 64).Select(i => new Buffer(0, i == 63 ? Piece - 1 : Piece)).ToArray();
        Assert.Equal(uint.MaxValue, buffers.Aggregate(0UL, (sum, b) => sum + b.Length));
        driver.Queues[1]!.Add(buffers);
        driver.Kick(1);

        Assert.Equal([(0u, 0u)], driver.WaitForUsed(1, 1).Select(u => (u.Id, u.Length)));
        Assert.False(driver.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Equal(1, driver.Transport.GuestErrors);
    }

    [Fact]
    public void ASegmentOver3GiBIsWalkedInPiecesThatEnd()
    {
        // The walk a block request makes of a 3.5 GiB guest buffer in 1 GiB pieces: a 32-bit step counter wrapped
        // at 4 GiB here and walked for ever, writing past the end of the disk as it went.
        const ulong Length = 0xE000_0000;
        ReadOnlySpan<GuestSegment> segments = [new(new GuestAddress(0x1_0000_0000), (uint)Length)];
        var cursor = new SegmentCursor(segments, 0, Length, 1 << 30);
        ulong walked = 0;
        var pieces = 0;
        var expected = new GuestAddress(0x1_0000_0000);
        while (cursor.MoveNext(out var address, out var length))
        {
            Assert.Equal(expected, address);
            walked += (ulong)length;
            expected = address + (ulong)length;
            Assert.True(++pieces <= 4, "more pieces than 3.5 GiB holds");
        }

        Assert.Equal(Length, walked);
    }

    [Fact]
    public void ABlockRequestOverTheSizeCapFailsWithoutTouchingTheDisk()
    {
        const uint Piece = 64 << 20;
        var memory = GuestMemory.Create([(new GuestAddress(0), Piece)]);
        var disk = new ProbeDisk(16UL << 30);
        using var driver = new VirtioPciDriver(new VirtioBlock(disk, "hostile"), memory);
        driver.Start(driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex, queueSize: 64);
        var header = BlockHeader(driver, BlockRequest.TypeOut, 0);
        var status = driver.Allocate(1, 0xFF);
        var data = Enumerable.Range(0, 17).Select(_ => new Buffer(0, Piece)); // 1088 MiB of overlapping buffers
        driver.Queues[0]!.Add([new Buffer(header, 16), .. data, new Buffer(status, 1, Write: true)]);
        driver.Kick(0);

        driver.WaitForUsed(0, 1);
        Assert.Equal(BlockRequest.StatusIoError, driver.ReadGuest(status, 1)[0]);
        Assert.Equal(0, disk.Writes);
    }

    [Fact]
    public void AnImageFileRefusesWritesPastItsEnd()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[4096]);
            using (var disk = RawFileBackend.Open(path, readOnly: false))
            {
                Assert.Throws<IOException>(() => disk.Write(4096, new byte[1]));
                Assert.Throws<IOException>(() => disk.Write(4095, new byte[2]));
                Assert.Throws<IOException>(() => disk.Write(-1, new byte[1]));
                Assert.Throws<IOException>(() => disk.WriteZeroes(0, 4097));
                Assert.Throws<IOException>(() => disk.Read(long.MaxValue, new byte[1]));
                disk.Write(4095, new byte[1]); // the last byte is still the disk's
            }

            Assert.Equal(4096, new FileInfo(path).Length);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RuntFramesAreDroppedAndCountedAndTheNicGoesOn()
    {
        var backend = new FakeNetBackend();
        using var driver = new VirtioPciDriver(new VirtioNet(backend, [2, 0, 0, 0, 0, 1]));
        driver.Start(queueSize: 64);
        var tx = driver.Queues[1]!;
        for (var length = 0; length <= 14; length++)
        {
            // virtio_net_hdr, then a frame of `length` bytes: 0-13 are shorter than an Ethernet header.
            var frame = driver.Allocate(VirtioNet.HeaderSize + length, 0x5A);
            tx.Add(new Buffer(frame, (uint)(VirtioNet.HeaderSize + length)));
        }

        driver.Kick(1);
        driver.WaitForUsed(1, 15);
        Assert.False(driver.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Equal([14], backend.Sent.Select(f => f.Length));
        var counters = driver.Transport.Counters();
        Assert.Equal(1, counters["tx_frames"]);
        Assert.Equal(14, counters["tx_dropped"]);
        Assert.Equal(14, counters["guest_errors"]);
    }

    [TapFact]
    public void ATapRefusingARuntFrameIsADropNotADeviceFailure()
    {
        using var tap = TapDevice.Open($"svrunt{Environment.ProcessId % 100000}");
        Assert.False(tap.Write(new byte[10])); // EINVAL from the kernel: shorter than an Ethernet header
        using var driver = new VirtioPciDriver(new VirtioNet(new TapBackend(tap), [2, 0, 0, 0, 0, 2]));
        driver.Start(queueSize: 64);
        var frame = driver.Allocate(VirtioNet.HeaderSize + 5, 0x5A);
        driver.Queues[1]!.Add(new Buffer(frame, VirtioNet.HeaderSize + 5));
        driver.Kick(1);
        driver.WaitForUsed(1, 1);
        Assert.False(driver.Status.HasFlag(VirtioStatus.NeedsReset));
    }

    [Fact]
    public void AResetBadQueueStartLoopIsCountedButLogsAFewLinesOnly()
    {
        using var driver = new VirtioPciDriver(new VirtioRng());
        const int Cycles = 1000;
        for (var i = 0; i < Cycles; i++)
        {
            Assert.True(driver.Negotiate(driver.OfferedFeatures));
            // A descriptor table past the end of RAM: activation fails and the device needs a reset.
            driver.SetupQueue(0, 16, VirtioPciDriver.RamSize + 0x1000, 0x2000, 0x3000, VirtioPciLayout.NoVector);
            driver.AddStatus(VirtioStatus.DriverOk);
            Assert.True(driver.Status.HasFlag(VirtioStatus.NeedsReset));
        }

        Assert.Equal(Cycles, driver.Transport.GuestErrors);
        Assert.InRange(driver.Log.Count, 1, GuestErrorLog.LifetimeLines);
    }

    [Fact]
    public void AResetWhileTheDeviceThreadIsStuckReturnsAndTheDeviceGoesOutOfService()
    {
        using var release = new ManualResetEventSlim();
        var disk = new ProbeDisk(1 << 20) { HoldWrites = release };
        var driver = new VirtioPciDriver(new VirtioBlock(disk, "stuck"));
        try
        {
            driver.Start(driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex);
            var header = BlockHeader(driver, BlockRequest.TypeOut, 0);
            var data = driver.Allocate(512, 0xAB);
            var status = driver.Allocate(1, 0xFF);
            driver.Queues[0]!.Add(new Buffer(header, 16), new Buffer(data, 512), new Buffer(status, 1, Write: true));
            driver.Kick(0);
            Assert.True(disk.WriteEntered.Wait(Ceiling), "the write never reached the disk");

            // The vCPU writing 0 to device_status waits for the device thread, which waits for the disk for ever.
            var reset = new Thread(() => driver.Status = VirtioStatus.None);
            reset.Start();
            Assert.True(reset.Join(Ceiling), "the reset waited for the stuck device thread without a deadline");
            Assert.Equal(VirtioStatus.None, driver.Status);

            // A driver that starts it again is told it needs a reset: the device is out of service, the VM goes on.
            Assert.True(driver.Negotiate(driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex));
            driver.SetupQueue(0, 16, driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex, VirtioPciLayout.NoVector);
            driver.AddStatus(VirtioStatus.DriverOk);
            Assert.True(driver.Status.HasFlag(VirtioStatus.NeedsReset));
            Assert.Contains(driver.Log, line => line.Contains("out of service", StringComparison.Ordinal));
        }
        finally
        {
            release.Set();
            driver.Dispose();
        }
    }

    [Fact]
    public void WithBusMasterOffTheDeviceLeavesGuestMemoryAloneUntilItIsBackOn()
    {
        var disk = new ProbeDisk(1 << 20);
        using var driver = new VirtioPciDriver(new VirtioBlock(disk, "bme"));
        driver.Start(driver.OfferedFeatures & ~VirtqueueFeatures.EventIndex);
        driver.EnableBusMaster(false);
        var header = BlockHeader(driver, BlockRequest.TypeOut, 0);
        var data = driver.Allocate(512, 0xAB);
        var status = driver.Allocate(1, 0xFF);
        driver.Queues[0]!.Add(new Buffer(header, 16), new Buffer(data, 512), new Buffer(status, 1, Write: true));
        driver.Kick(0);

        // Nothing to wait for when nothing may happen: give the device thread a moment to (wrongly) serve it.
        Thread.Sleep(200);
        Assert.Equal(0, disk.Writes);
        Assert.Equal(0, driver.Queues[0]!.UsedIndex);
        Assert.Equal(0xFF, driver.ReadGuest(status, 1)[0]);

        driver.EnableBusMaster(true);
        driver.WaitForUsed(0, 1);
        Assert.Equal(1, disk.Writes);
        Assert.Equal(BlockRequest.StatusOk, driver.ReadGuest(status, 1)[0]);
    }
}

/// <summary>A test that opens a real TAP: root (CAP_NET_ADMIN) and /dev/net/tun; under CI=true missing them fails it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class TapFactAttribute : FactAttribute
{
    public TapFactAttribute()
    {
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && (!Environment.IsPrivilegedProcess || !File.Exists("/dev/net/tun")))
        {
            Skip = "needs root and /dev/net/tun to open a TAP; set CI=true to make this a failure";
        }
    }
}
