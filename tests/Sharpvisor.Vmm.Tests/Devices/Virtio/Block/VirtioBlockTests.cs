using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Block;

/// <summary>virtio-blk through the PCI transport on a real temporary image file.</summary>
public sealed class VirtioBlockTests : IDisposable
{
    private const int DiskSize = 64 * 1024;
    private const ulong Sectors = DiskSize / 512;
    private const int Queue = 0;
    private const int ConfigVector = 1;
    private const byte Untouched = 0xFF;

    private readonly string _path = Path.GetTempFileName();
    private readonly byte[] _image = new byte[DiskSize];
    private VirtioPciDriver? _driver;

    public VirtioBlockTests()
    {
        for (var i = 0; i < _image.Length; i++)
        {
            _image[i] = (byte)((i % 251) + 1); // never zero, so zeroed ranges show
        }

        File.WriteAllBytes(_path, _image);
    }

    private VirtioPciDriver Driver => _driver ?? throw new InvalidOperationException("call Open first");

    public void Dispose()
    {
        _driver?.Dispose();
        File.Delete(_path);
    }

    private static ulong NoEventIndex(ulong features) => features & ~VirtqueueFeatures.EventIndex;

    private VirtioPciDriver Open(bool readOnly = false, string id = "sharpvisor-disk", bool start = true)
    {
        _driver = new VirtioPciDriver(new VirtioBlock(RawFileBackend.Open(_path, readOnly), id));
        if (start)
        {
            _driver.Start(NoEventIndex(_driver.OfferedFeatures));
        }

        return _driver;
    }

    /// <summary>Closes the device (and so the image) and returns the file's bytes.</summary>
    private byte[] CloseAndReadFile()
    {
        _driver?.Dispose();
        _driver = null;
        return File.ReadAllBytes(_path);
    }

    private ulong Header(uint type, ulong sector)
    {
        Span<byte> header = stackalloc byte[16];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], sector);
        return Driver.Allocate(header);
    }

    private static byte[] Segments(params (ulong Sector, uint Count, uint Flags)[] segments)
    {
        var bytes = new byte[16 * segments.Length];
        for (var i = 0; i < segments.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16 * i), segments[i].Sector);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((16 * i) + 8), segments[i].Count);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((16 * i) + 12), segments[i].Flags);
        }

        return bytes;
    }

    /// <summary>Submits one chain [header][data...][status] and waits for it; returns the status byte and the used length.</summary>
    private (byte Status, uint Length) Submit(ulong header, params Buffer[] data)
    {
        var status = Driver.Allocate(1, Untouched);
        var queue = Driver.Queues[Queue]!;
        queue.Add([new Buffer(header, 16), .. data, new Buffer(status, 1, Write: true)]);
        var index = (ushort)(queue.UsedIndex + 1);
        Driver.Kick(Queue);
        var used = Assert.Single(Driver.WaitForUsed(Queue, index));
        return (Driver.ReadGuest(status, 1)[0], used.Length);
    }

    private (byte Status, uint Length) Write(ulong sector, byte[] data) =>
        Submit(Header(BlockRequest.TypeOut, sector), new Buffer(Driver.Allocate(data), (uint)data.Length));

    private (byte Status, uint Length, byte[] Data) Read(ulong sector, int length)
    {
        var buffer = Driver.Allocate(length, Untouched);
        var (status, used) = Submit(Header(BlockRequest.TypeIn, sector), new Buffer(buffer, (uint)length, Write: true));
        return (status, used, Driver.ReadGuest(buffer, length));
    }

    private static byte[] Pattern(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed + (i * 13)))];

    [Fact]
    public void ConfigSpaceAndFeaturesDescribeAWritableDisk()
    {
        var driver = Open(start: false);
        Assert.Equal(Sectors, driver.DeviceConfig(0, 8));                   // capacity
        Assert.Equal(VirtioBlock.QueueSize - 2UL, driver.DeviceConfig(0x0C, 4)); // seg_max
        Assert.Equal(512UL, driver.DeviceConfig(0x14, 4));                  // blk_size
        Assert.Equal((ulong)BlockRequest.MaxDiscardSectors, driver.DeviceConfig(0x24, 4));
        Assert.Equal((ulong)BlockRequest.MaxDiscardSegments, driver.DeviceConfig(0x28, 4));
        Assert.Equal(1UL, driver.DeviceConfig(0x38, 1));                    // write_zeroes_may_unmap
        Assert.Equal(0UL, driver.DeviceConfig(0x3C, 4));                    // past the config: zeros
        driver.BarWrite(driver.Cap(4).Offset, 0xFFFF_FFFF, 4);              // the config is read-only
        Assert.Equal(Sectors, driver.DeviceConfig(0, 8));

        var offered = driver.OfferedFeatures;
        ulong device = (1UL << VirtioBlock.SegMaxBit) | (1UL << VirtioBlock.BlockSizeBit) | (1UL << VirtioBlock.FlushBit)
            | (1UL << VirtioBlock.DiscardBit) | (1UL << VirtioBlock.WriteZeroesBit);
        Assert.Equal(device | VirtioFeatures.Common, offered);
        Assert.Equal(0UL, offered & (1UL << VirtioBlock.ReadOnlyBit));
    }

    [Fact]
    public void WrittenSectorsReachTheFileAndReadBack()
    {
        Open();
        var data = Pattern(1024, 7);

        // The data in two descriptors, as a scatter-gather list.
        var first = Driver.Allocate(data.AsSpan(0, 300));
        var second = Driver.Allocate(data.AsSpan(300));
        Assert.Equal((BlockRequest.StatusOk, 1u), Submit(Header(BlockRequest.TypeOut, 3), new Buffer(first, 300), new Buffer(second, 724)));

        var (status, length, read) = Read(2, 2048);
        Assert.Equal(BlockRequest.StatusOk, status);
        Assert.Equal(2049u, length); // data plus the status byte
        Assert.Equal(_image.AsSpan(1024, 512).ToArray(), read[..512]);
        Assert.Equal(data, read[512..1536]);
        Assert.Equal(_image.AsSpan(2560, 512).ToArray(), read[1536..]);

        // A read into several writable descriptors with the status byte in the last one.
        var a = Driver.Allocate(100, Untouched);
        var b = Driver.Allocate(412, Untouched);
        Assert.Equal((BlockRequest.StatusOk, 513u), Submit(Header(BlockRequest.TypeIn, 3), new Buffer(a, 100, Write: true), new Buffer(b, 412, Write: true)));
        byte[] scattered = [.. Driver.ReadGuest(a, 100), .. Driver.ReadGuest(b, 412)];
        Assert.Equal(data[..512], scattered);

        // Data and status in one writable descriptor: the status is its last byte.
        var combined = Driver.Allocate(513, Untouched);
        var queue = Driver.Queues[Queue]!;
        queue.Add(new Buffer(Header(BlockRequest.TypeIn, 4), 16), new Buffer(combined, 513, Write: true));
        var next = (ushort)(queue.UsedIndex + 1);
        Driver.Kick(Queue);
        Assert.Equal(513u, Assert.Single(Driver.WaitForUsed(Queue, next)).Length);
        Assert.Equal(data[512..], Driver.ReadGuest(combined, 512));
        Assert.Equal(BlockRequest.StatusOk, Driver.ReadGuest(combined + 512, 1)[0]);

        // The last sector of the disk is reachable.
        Assert.Equal((BlockRequest.StatusOk, 1u), Write(Sectors - 1, Pattern(512, 99)));
        Assert.Equal(BlockRequest.StatusOk, Write(0, Pattern(512, 1)).Status);

        var file = CloseAndReadFile();
        var expected = _image.ToArray();
        data.CopyTo(expected, 3 * 512);
        Pattern(512, 99).CopyTo(expected, (int)(Sectors - 1) * 512);
        Pattern(512, 1).CopyTo(expected, 0);
        Assert.Equal(expected, file);
    }

    [Fact]
    public void FlushCompletes()
    {
        Open();
        Assert.Equal((BlockRequest.StatusOk, 1u), Submit(Header(BlockRequest.TypeFlush, 0)));
    }

    [Theory]
    [InlineData("disk-1", 20, "disk-1")]
    [InlineData("0123456789abcdefghijKLMN", 20, "0123456789abcdefghij")]
    [InlineData("0123456789abcdefghij", 20, "0123456789abcdefghij")]
    [InlineData("serial", 4, "seri")]
    public void GetIdReturnsTheNulPaddedSerial(string id, int room, string expected)
    {
        Open(id: id);
        var buffer = Driver.Allocate(32, Untouched);
        var (status, length) = Submit(Header(BlockRequest.TypeGetId, 0), new Buffer(buffer, (uint)room, Write: true));
        Assert.Equal(BlockRequest.StatusOk, status);
        var written = Math.Min(room, 20);
        Assert.Equal((uint)written + 1, length);
        var bytes = Driver.ReadGuest(buffer, 32);
        var padded = new byte[written];
        System.Text.Encoding.ASCII.GetBytes(expected).CopyTo(padded, 0);
        Assert.Equal(padded, bytes[..written]);
        Assert.All(bytes[room..], b => Assert.Equal(Untouched, b));
    }

    [Fact]
    public void AReadOnlyDiskOffersRoAndRefusesEveryWrite()
    {
        var driver = Open(readOnly: true, start: false);
        var offered = driver.OfferedFeatures;
        Assert.NotEqual(0UL, offered & (1UL << VirtioBlock.ReadOnlyBit));
        Assert.Equal(0UL, offered & ((1UL << VirtioBlock.DiscardBit) | (1UL << VirtioBlock.WriteZeroesBit)));
        driver.Start(NoEventIndex(offered));

        Assert.Equal((BlockRequest.StatusIoError, 1u), Write(1, Pattern(512, 3)));
        var segment = Driver.Allocate(Segments((0, 8, 0)));
        Assert.Equal(BlockRequest.StatusIoError, Submit(Header(BlockRequest.TypeDiscard, 0), new Buffer(segment, 16)).Status);
        Assert.Equal(BlockRequest.StatusIoError, Submit(Header(BlockRequest.TypeWriteZeroes, 0), new Buffer(segment, 16)).Status);
        var (status, _, data) = Read(0, 1024);
        Assert.Equal(BlockRequest.StatusOk, status);
        Assert.Equal(_image[..1024], data);
        Assert.Equal(BlockRequest.StatusOk, Submit(Header(BlockRequest.TypeFlush, 0)).Status);

        Assert.Equal(_image, CloseAndReadFile());
    }

    [Theory]
    [InlineData(BlockRequest.TypeDiscard, 0u)]
    [InlineData(BlockRequest.TypeWriteZeroes, 0u)]
    [InlineData(BlockRequest.TypeWriteZeroes, 1u)] // UNMAP allowed
    public void DiscardAndWriteZeroesZeroTheRanges(uint type, uint flags)
    {
        Open();
        var segments = Driver.Allocate(Segments((4, 8, flags), (Sectors - 2, 2, flags)));
        Assert.Equal((BlockRequest.StatusOk, 1u), Submit(Header(type, 0), new Buffer(segments, 32)));

        var (status, _, data) = Read(0, DiskSize);
        Assert.Equal(BlockRequest.StatusOk, status);
        var expected = _image.ToArray();
        Array.Clear(expected, 4 * 512, 8 * 512);
        Array.Clear(expected, (int)(Sectors - 2) * 512, 2 * 512);
        Assert.Equal(expected, data);
        Assert.Equal(expected, CloseAndReadFile());
    }

    public static TheoryData<string, uint, ulong, int> BadTransfers => new()
    {
        { "read past the end", BlockRequest.TypeIn, Sectors - 1, 1024 },
        { "read starting at the end", BlockRequest.TypeIn, Sectors, 512 },
        { "write past the end", BlockRequest.TypeOut, Sectors - 1, 1024 },
        { "read of part of a sector", BlockRequest.TypeIn, 0, 100 },
        { "write of part of a sector", BlockRequest.TypeOut, 0, 1000 },
        { "sector near 2^64", BlockRequest.TypeIn, ulong.MaxValue, 512 },
        { "sector whose byte offset wraps to 0", BlockRequest.TypeOut, 1UL << 55, 512 },
        { "sector whose byte offset wraps into the disk", BlockRequest.TypeIn, (1UL << 55) + 1, 512 },
    };

    [Theory]
    [MemberData(nameof(BadTransfers))]
    public void TransfersOutsideTheDiskOrNotInWholeSectorsFail(string what, uint type, ulong sector, int length)
    {
        Open();
        var buffer = Driver.Allocate(length, Untouched);
        var (status, used) = Submit(Header(type, sector), new Buffer(buffer, (uint)length, Write: type == BlockRequest.TypeIn));
        Assert.True(status == BlockRequest.StatusIoError, what);
        Assert.Equal(1u, used);
        Assert.All(Driver.ReadGuest(buffer, length), b => Assert.Equal(Untouched, b));
        Assert.False(Driver.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Equal(_image, CloseAndReadFile());
    }

    public static TheoryData<string, uint, byte[]> BadUnmaps => new()
    {
        { "discard past the end", BlockRequest.TypeDiscard, Segments((Sectors - 1, 2, 0)) },
        { "write-zeroes with a wrapping sector", BlockRequest.TypeWriteZeroes, Segments((ulong.MaxValue - 1, 4, 0)) },
        { "discard with the UNMAP flag", BlockRequest.TypeDiscard, Segments((0, 1, 1)) },
        { "write-zeroes with an unknown flag", BlockRequest.TypeWriteZeroes, Segments((0, 1, 2)) },
        { "more sectors than max_discard_sectors", BlockRequest.TypeDiscard, Segments((0, BlockRequest.MaxDiscardSectors + 1, 0)) },
        { "a partial segment", BlockRequest.TypeDiscard, Segments((0, 1, 0))[..12] },
        { "no segment", BlockRequest.TypeWriteZeroes, [] },
        { "too many segments", BlockRequest.TypeDiscard, Segments([.. Enumerable.Repeat((0UL, 1u, 0u), BlockRequest.MaxDiscardSegments + 1)]) },
    };

    [Theory]
    [MemberData(nameof(BadUnmaps))]
    public void BadDiscardOrWriteZeroesSegmentsFail(string what, uint type, byte[] segments)
    {
        Open();
        Buffer[] data = segments.Length == 0 ? [] : [new Buffer(Driver.Allocate(segments), (uint)segments.Length)];
        Assert.True(Submit(Header(type, 0), data).Status == BlockRequest.StatusIoError, what);
        Assert.Equal(_image, CloseAndReadFile());
    }

    [Fact]
    public void AHeaderShorterThan16BytesFails()
    {
        Open();
        var header = Driver.Allocate(8);
        var status = Driver.Allocate(1, Untouched);
        Driver.Queues[Queue]!.Add(new Buffer(header, 8), new Buffer(status, 1, Write: true));
        Driver.Kick(Queue);
        Assert.Equal(1u, Assert.Single(Driver.WaitForUsed(Queue, 1)).Length);
        Assert.Equal(BlockRequest.StatusIoError, Driver.ReadGuest(status, 1)[0]);
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(5u)]
    [InlineData(10u)]
    [InlineData(0xFFFF_FFFFu)]
    public void UnknownRequestTypesAreUnsupported(uint type)
    {
        Open();
        Assert.Equal((BlockRequest.StatusUnsupported, 1u), Submit(Header(type, 0)));
    }

    [Fact]
    public void AChainWithoutAWritableByteComesBackUntouched()
    {
        Open();
        var header = Header(BlockRequest.TypeIn, 0);
        var data = Driver.Allocate(512, Untouched);
        Driver.Queues[Queue]!.Add(new Buffer(header, 16), new Buffer(data, 512));
        Driver.Kick(Queue);
        var used = Assert.Single(Driver.WaitForUsed(Queue, 1));
        Assert.Equal(0u, used.Length);
        Assert.All(Driver.ReadGuest(data, 512), b => Assert.Equal(Untouched, b));

        // The device carries on.
        Assert.Equal(BlockRequest.StatusOk, Read(0, 512).Status);
        Assert.False(Driver.Status.HasFlag(VirtioStatus.NeedsReset));
    }

    public enum BrokenChain
    {
        Loop,
        SelfLoop,
        IndirectLoop,
        NextOutsideTheTable,
        BufferOutsideRam,
    }

    [Theory]
    [InlineData(BrokenChain.Loop, "a loop")]
    [InlineData(BrokenChain.SelfLoop, "a loop")]
    [InlineData(BrokenChain.IndirectLoop, "a loop")]
    [InlineData(BrokenChain.NextOutsideTheTable, "outside a table")]
    [InlineData(BrokenChain.BufferOutsideRam, "not inside guest RAM")]
    public void ABrokenChainNeedsResetAndTheHostCarriesOn(BrokenChain kind, string reason)
    {
        Open();
        var queue = Driver.Queues[Queue]!;
        var table = queue.Config.DescriptorTable.Value;
        var header = Header(BlockRequest.TypeIn, 0);
        switch (kind)
        {
            case BrokenChain.Loop:
                queue.WriteDescriptor(table, 0, header, 16, DescriptorFlags.Next, 1);
                queue.WriteDescriptor(table, 1, header, 16, DescriptorFlags.Next, 0);
                break;
            case BrokenChain.SelfLoop:
                queue.WriteDescriptor(table, 0, header, 16, DescriptorFlags.Next, 0);
                break;
            case BrokenChain.IndirectLoop:
                var indirect = Driver.Allocate(64);
                queue.WriteDescriptor(indirect, 0, header, 16, DescriptorFlags.Next, 1);
                queue.WriteDescriptor(indirect, 1, header, 16, DescriptorFlags.Next, 0);
                queue.WriteDescriptor(table, 0, indirect, 32, DescriptorFlags.Indirect, 0);
                break;
            case BrokenChain.NextOutsideTheTable:
                queue.WriteDescriptor(table, 0, header, 16, DescriptorFlags.Next, 16);
                break;
            default:
                queue.WriteDescriptor(table, 0, header, 16, DescriptorFlags.Next, 1);
                queue.WriteDescriptor(table, 1, VirtioPciDriver.RamSize - 8, 16, DescriptorFlags.Write, 0);
                break;
        }

        queue.PutAvailable(0);
        for (var i = 0; i < 3; i++)
        {
            Driver.Kick(Queue);
        }

        Driver.WaitForNeedsReset();
        Driver.WaitForMsi(ConfigVector, 1);
        Assert.Equal(0, queue.UsedIndex);
        Assert.Equal(2, Driver.ReadIsr() & 2);
        var message = Assert.Single(Driver.Log);
        Assert.StartsWith("block: ", message, StringComparison.Ordinal);
        Assert.Contains(reason, message, StringComparison.Ordinal);

        // More kicks of the broken queue change nothing; a reset and a fresh start bring the disk back.
        Driver.Kick(Queue);
        Assert.Equal(1, Driver.MsiCount(ConfigVector));
        Driver.Start(NoEventIndex(Driver.OfferedFeatures));
        Assert.Equal(VirtioStatus.None, Driver.Status & VirtioStatus.NeedsReset);
        Assert.Equal(BlockRequest.StatusOk, Write(5, Pattern(512, 5)).Status);
        Assert.Equal(Pattern(512, 5), Read(5, 512).Data);
        Assert.Single(Driver.Log);
        Assert.Equal(1, Driver.MsiCount(ConfigVector));
    }

    [Fact]
    public void RequestsTakenTogetherRunAtOnceAndAFlushWaitsForThoseBeforeIt()
    {
        // Four reads that go on only once all four are at the disk together: served one by one, they would fail.
        using var disk = new GatedDisk(RawFileBackend.Open(_path, readOnly: false), readsAtOnce: 4);
        _driver = new VirtioPciDriver(new VirtioBlock(disk, "gated"));
        _driver.Start(NoEventIndex(_driver.OfferedFeatures), queueSize: 32);
        var queue = Driver.Queues[Queue]!;
        var statuses = new List<ulong>();
        void Add(uint type, ulong sector, Buffer? data = null)
        {
            var status = Driver.Allocate(1, Untouched);
            statuses.Add(status);
            queue.Add([new Buffer(Header(type, sector), 16), .. data is { } d ? new[] { d } : [], new Buffer(status, 1, Write: true)]);
        }

        var buffers = Enumerable.Range(0, 4).Select(_ => Driver.Allocate(512, Untouched)).ToArray();
        for (var i = 0; i < 4; i++)
        {
            Add(BlockRequest.TypeIn, (ulong)i, new Buffer(buffers[i], 512, Write: true));
        }

        Add(BlockRequest.TypeFlush, 0);
        Add(BlockRequest.TypeOut, 9, new Buffer(Driver.Allocate(Pattern(512, 9)), 512));
        Driver.Kick(Queue);

        Assert.Equal(6, Driver.WaitForUsed(Queue, 6).Count);
        Assert.All(statuses, s => Assert.Equal(BlockRequest.StatusOk, Driver.ReadGuest(s, 1)[0]));
        Assert.Equal(4, disk.MostReadsAtOnce);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(_image[(i * 512)..((i + 1) * 512)], Driver.ReadGuest(buffers[i], 512));
        }

        Assert.Equal(["read", "read", "read", "read", "flush", "write"], disk.Done);
    }

    [Fact]
    public void ManyRequestsInFlightWithIndirectDescriptorsAndEventIndex()
    {
        var driver = Open(start: false);
        driver.Start(driver.OfferedFeatures, queueSize: 8);
        var queue = driver.Queues[Queue]!;
        const int count = 16; // twice the queue size: indirect descriptors use one slot each, and two rounds wrap the rings

        for (var round = 0; round < 2; round++)
        {
            var statuses = new ulong[count / 2];
            var datas = new ulong[count / 2];
            for (var i = 0; i < count / 2; i++)
            {
                var request = (round * (count / 2)) + i;
                datas[i] = driver.Allocate(Pattern(1024, (byte)request));
                statuses[i] = driver.Allocate(1, Untouched);
                var table = driver.Allocate(48);
                queue.AddIndirect(table, new Buffer(Header(BlockRequest.TypeOut, (ulong)(2 * request)), 16), new Buffer(datas[i], 1024), new Buffer(statuses[i], 1, Write: true));
            }

            // Interrupt only once the whole batch is done: used_event = the index of the last completion.
            var target = (ushort)((round + 1) * (count / 2));
            queue.SetUsedEvent((ushort)(target - 1));
            driver.Kick(Queue);
            var used = driver.WaitForUsed(Queue, target);
            Assert.Equal(count / 2, used.Count);
            Assert.All(used, u => Assert.Equal(1u, u.Length));
            Assert.All(statuses, s => Assert.Equal(BlockRequest.StatusOk, driver.ReadGuest(s, 1)[0]));
            driver.WaitForMsi(Queue, round + 1);

            // The device asks to be notified at the next available index (avail_event).
            VirtioPciDriver.WaitUntil(() => queue.AvailableEvent == target, "avail_event");
        }

        Assert.Equal(2, driver.MsiCount(Queue));
        var (status, _, data) = Read(0, count * 1024);
        Assert.Equal(BlockRequest.StatusOk, status);
        for (var request = 0; request < count; request++)
        {
            Assert.Equal(Pattern(1024, (byte)request), data[(request * 1024)..((request + 1) * 1024)]);
        }
    }

    /// <summary>A disk whose reads wait until <c>readsAtOnce</c> of them are in it together (30 s at most, then an I/O error), and that logs what ended when.</summary>
    private sealed class GatedDisk(Sharpvisor.Storage.IBlockBackend inner, int readsAtOnce) : Sharpvisor.Storage.IBlockBackend
    {
        private readonly Barrier _gate = new(readsAtOnce);
        private int _inReads;

        public List<string> Done { get; } = [];

        public int MostReadsAtOnce { get; private set; }

        public ulong Size => inner.Size;

        public bool ReadOnly => inner.ReadOnly;

        public void Read(long offset, Span<byte> destination)
        {
            var now = Interlocked.Increment(ref _inReads);
            lock (Done)
            {
                MostReadsAtOnce = Math.Max(MostReadsAtOnce, now);
            }

            if (!_gate.SignalAndWait(TimeSpan.FromSeconds(30)))
            {
                throw new IOException("the reads were not in the disk together");
            }

            inner.Read(offset, destination);
            Interlocked.Decrement(ref _inReads);
            Log("read");
        }

        public void Write(long offset, ReadOnlySpan<byte> source)
        {
            inner.Write(offset, source);
            Log("write");
        }

        public void Flush()
        {
            Assert.Equal(0, Volatile.Read(ref _inReads)); // nothing before the flush is still going
            inner.Flush();
            Log("flush");
        }

        public void Discard(long offset, long length) => inner.Discard(offset, length);

        public void WriteZeroes(long offset, long length) => inner.WriteZeroes(offset, length);

        public void Dispose()
        {
            _gate.Dispose();
            inner.Dispose();
        }

        private void Log(string what)
        {
            lock (Done)
            {
                Done.Add(what);
            }
        }
    }
}
