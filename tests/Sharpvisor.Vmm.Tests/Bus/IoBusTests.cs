using System.Collections.Concurrent;
using System.Buffers.Binary;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Tests.Bus;

public sealed class IoBusTests
{
    /// <summary>Records every access; reads answer with the device id and the offset, so the caller can tell who answered.</summary>
    private sealed class RecordingDevice(int id) : IBusDevice
    {
        public int Id { get; } = id;

        public ConcurrentQueue<(bool IsWrite, ulong Offset, byte[] Data)> Accesses { get; } = new();

        public void Read(ulong offset, Span<byte> data)
        {
            Accesses.Enqueue((false, offset, new byte[data.Length]));
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (byte)(Id + (int)offset + i);
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data) => Accesses.Enqueue((true, offset, data.ToArray()));
    }

    [Fact]
    public void DispatchesToTheOwningDeviceWithTheOffsetIntoItsRange()
    {
        var bus = new IoBus("pio");
        var uart = new RecordingDevice(0x10);
        var i8042 = new RecordingDevice(0x20);
        var rtc = new RecordingDevice(0x30);
        bus.Register(0x3f8, 8, uart);
        bus.Register(0x60, 1, i8042);
        bus.Register(0x70, 2, rtc);

        Span<byte> data = stackalloc byte[1];
        Assert.True(bus.Read(0x3fd, data));
        Assert.Equal(0x10 + 5, data[0]);
        Assert.True(bus.Write(0x71, [0xab]));
        Assert.True(bus.Write(0x60, [0xfe]));

        var read = Assert.Single(uart.Accesses);
        Assert.Equal((false, 5UL), (read.IsWrite, read.Offset));
        var write = Assert.Single(rtc.Accesses);
        Assert.Equal((true, 1UL), (write.IsWrite, write.Offset));
        Assert.Equal(new byte[] { 0xab }, write.Data);
        Assert.Equal(0UL, Assert.Single(i8042.Accesses).Offset);
    }

    [Fact]
    public void BusWindowShowsOneDeviceAtASecondAddressWithShiftedOffsets()
    {
        // The i8042 layout: data at 0x60 (offset 0), command/status at 0x64 (offset 4), 0x61 belongs to someone else.
        var bus = new IoBus("pio");
        var i8042 = new RecordingDevice(0x20);
        var portB = new RecordingDevice(0x40);
        bus.Register(0x60, 1, i8042);
        bus.Register(0x61, 1, portB);
        bus.Register(0x64, 1, new BusWindow(i8042, 4));

        Span<byte> data = stackalloc byte[1];
        Assert.True(bus.Read(0x64, data));
        Assert.Equal(0x20 + 4, data[0]);
        Assert.True(bus.Write(0x64, [0xfe]));
        Assert.True(bus.Write(0x61, [0x01]));

        Assert.Equal([(false, 4UL), (true, 4UL)], i8042.Accesses.Select(a => (a.IsWrite, a.Offset)));
        Assert.Equal((true, 0UL), portB.Accesses.Select(a => (a.IsWrite, a.Offset)).Single());
    }

    [Fact]
    public void WideAccessesReachTheDeviceWhole()
    {
        var bus = new IoBus("mmio");
        var device = new RecordingDevice(0);
        bus.Register(0xfee0_0000, 0x1000, device);

        Span<byte> data = stackalloc byte[8];
        Assert.True(bus.Read(0xfee0_0ff8, data));
        Assert.Equal(0xff8UL, device.Accesses.Single().Offset);
        Assert.Equal(new byte[] { 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff }, data.ToArray());

        Span<byte> value = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 0x1234_5678);
        Assert.True(bus.Write(0xfee0_0300, value));
        var write = device.Accesses.Last();
        Assert.Equal(0x300UL, write.Offset);
        Assert.Equal(0x1234_5678U, BinaryPrimitives.ReadUInt32LittleEndian(write.Data));
    }

    [Fact]
    public void UnclaimedReadsAreAllOnesAndReportFalse()
    {
        var bus = new IoBus("pio");
        var device = new RecordingDevice(1);
        bus.Register(0x100, 0x10, device);

        foreach (var address in new ulong[] { 0, 0xff, 0x110, 0xffff, ulong.MaxValue })
        {
            var data = new byte[4];
            Assert.False(bus.Read(address, data));
            Assert.Equal(new byte[] { 0xff, 0xff, 0xff, 0xff }, data);
        }

        Assert.False(new IoBus("empty").Read(0x80, new byte[2]));
        Assert.Empty(device.Accesses);
    }

    [Fact]
    public void UnclaimedWritesAreDropped()
    {
        var bus = new IoBus("pio");
        var device = new RecordingDevice(1);
        bus.Register(0x100, 0x10, device);

        Assert.False(bus.Write(0xff, [1]));
        Assert.False(bus.Write(0x110, [1, 2]));
        Assert.False(new IoBus("empty").Write(0, [1]));
        Assert.Empty(device.Accesses);
    }

    [Theory]
    [InlineData(0x10e, 4)] // straddles the end of the first device into the second
    [InlineData(0x10f, 2)]
    [InlineData(0x11c, 8)] // straddles the end of the second device into nothing
    [InlineData(0x0fe, 4)] // starts before the first device
    [InlineData(0x100, 0x21)] // covers both and more
    public void AccessesStraddlingARangeEndGoNowhere(ulong address, int length)
    {
        var bus = new IoBus("pio");
        var first = new RecordingDevice(1);
        var second = new RecordingDevice(2);
        bus.Register(0x100, 0x10, first);
        bus.Register(0x110, 0x10, second);

        var data = new byte[length];
        Assert.False(bus.Read(address, data));
        Assert.All(data, b => Assert.Equal(0xff, b));
        Assert.False(bus.Write(address, data));
        Assert.Empty(first.Accesses);
        Assert.Empty(second.Accesses);
    }

    [Fact]
    public void AccessEndingExactlyAtTheRangeEndIsClaimed()
    {
        var bus = new IoBus("pio");
        var device = new RecordingDevice(0);
        bus.Register(0x100, 0x10, device);

        Assert.True(bus.Write(0x10c, [1, 2, 3, 4]));
        Assert.Equal(0xcUL, device.Accesses.Single().Offset);
    }

    [Fact]
    public void AccessesWrappingPastTheTopOfTheAddressSpaceGoNowhere()
    {
        var bus = new IoBus("mmio");
        var low = new RecordingDevice(0);
        var high = new RecordingDevice(1);
        bus.Register(0, 0x10, low);
        bus.Register(ulong.MaxValue - 0xf, 0xf, high);

        Assert.False(bus.Read(ulong.MaxValue - 1, new byte[4]));
        Assert.False(bus.Write(ulong.MaxValue, [1, 2]));
        Assert.False(bus.Write(ulong.MaxValue - 0x2, [1, 2, 3, 4]));
        Assert.Empty(low.Accesses);
        Assert.Empty(high.Accesses);

        Assert.True(bus.Write(ulong.MaxValue - 0x2, [1, 2]));
        Assert.Equal(0xdUL, high.Accesses.Single().Offset);
    }

    [Theory]
    [InlineData(0x100UL, 0x10UL)] // identical
    [InlineData(0x0f8UL, 0x10UL)] // overlaps the start
    [InlineData(0x10fUL, 0x10UL)] // overlaps the last byte
    [InlineData(0x104UL, 0x4UL)] // inside
    [InlineData(0x000UL, 0x1000UL)] // contains
    public void OverlappingRegistrationsThrowAndLeaveTheBusAsItWas(ulong start, ulong length)
    {
        var bus = new IoBus("pio");
        var existing = new RecordingDevice(1);
        var intruder = new RecordingDevice(2);
        bus.Register(0x100, 0x10, existing);

        Assert.Throws<InvalidOperationException>(() => bus.Register(start, length, intruder));

        for (var address = start; address < start + length; address++)
        {
            bus.Write(address, [0]);
        }

        Assert.Empty(intruder.Accesses);
        var overlap = (int)(Math.Min(start + length, 0x110) - Math.Max(start, 0x100));
        Assert.Equal(overlap, existing.Accesses.Count);
    }

    [Fact]
    public void AdjacentRegistrationsAreAllowed()
    {
        var bus = new IoBus("pio");
        var a = new RecordingDevice(1);
        var b = new RecordingDevice(2);
        var c = new RecordingDevice(3);
        bus.Register(0x100, 0x10, b);
        bus.Register(0x0f0, 0x10, a);
        bus.Register(0x110, 0x10, c);

        Assert.True(bus.Write(0x0ff, [1]));
        Assert.True(bus.Write(0x100, [1]));
        Assert.True(bus.Write(0x10f, [1]));
        Assert.True(bus.Write(0x110, [1]));
        Assert.Equal([0xfUL], a.Accesses.Select(x => x.Offset));
        Assert.Equal([0UL, 0xfUL], b.Accesses.Select(x => x.Offset));
        Assert.Equal([0UL], c.Accesses.Select(x => x.Offset));
    }

    [Theory]
    [InlineData(0x100UL, 0UL)]
    [InlineData(ulong.MaxValue, 2UL)]
    [InlineData(ulong.MaxValue - 0xf, 0x20UL)]
    [InlineData(1UL, ulong.MaxValue)]
    public void EmptyOrWrappingRangesThrow(ulong start, ulong length)
    {
        var bus = new IoBus("mmio");
        Assert.Throws<ArgumentOutOfRangeException>(() => bus.Register(start, length, new RecordingDevice(0)));
        Assert.False(bus.Write(start, [0]));
    }

    [Fact]
    public void NullDeviceThrows()
    {
        Assert.Throws<ArgumentNullException>(() => new IoBus("pio").Register(0, 1, null!));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void BinarySearchOverManyRangesAgreesWithALinearScan(int seed)
    {
        var random = new Random(seed);
        // 200 ranges laid out with random lengths and gaps (some zero, so ranges touch), registered in random order.
        var ranges = new List<(ulong Start, ulong Length, RecordingDevice Device)>();
        ulong next = (ulong)random.Next(0, 4);
        for (var i = 0; i < 200; i++)
        {
            var length = (ulong)random.Next(1, 24);
            ranges.Add((next, length, new RecordingDevice(i)));
            next += length + (ulong)random.Next(0, 3) * (ulong)random.Next(0, 12);
        }

        var bus = new IoBus("pio");
        foreach (var (start, length, device) in ranges.OrderBy(_ => random.Next()))
        {
            bus.Register(start, length, device);
        }

        var probes = new List<ulong>();
        foreach (var (start, length, _) in ranges)
        {
            probes.AddRange([start - 1, start, start + 1, start + length - 2, start + length - 1, start + length]);
        }

        probes.AddRange(Enumerable.Range(0, 2000).Select(_ => (ulong)random.NextInt64(0, (long)next + 16)));
        probes.Add(ulong.MaxValue);

        var checkedHits = 0;
        foreach (var address in probes)
        {
            foreach (var width in new[] { 1, 2, 4, 8 })
            {
                var expected = ranges.Where(r => address >= r.Start && address - r.Start < r.Length && (ulong)width <= r.Length - (address - r.Start))
                    .Select(r => ((int Id, ulong Offset)?)(r.Device.Id, address - r.Start)).SingleOrDefault();

                var data = new byte[width];
                var claimed = bus.Read(address, data);

                var touched = ranges.Where(r => !r.Device.Accesses.IsEmpty).ToList();
                Assert.Equal(expected is not null, claimed);
                if (expected is { } hit)
                {
                    var device = Assert.Single(touched).Device;
                    Assert.Equal(hit.Id, device.Id);
                    Assert.True(device.Accesses.TryDequeue(out var access));
                    Assert.Equal(hit.Offset, access.Offset);
                    Assert.Equal((byte)(hit.Id + (int)hit.Offset), data[0]);
                    checkedHits++;
                }
                else
                {
                    Assert.Empty(touched);
                    Assert.All(data, b => Assert.Equal(0xff, b));
                }
            }
        }

        // The probes must have exercised both outcomes in earnest.
        Assert.True(checkedHits > 1000, $"only {checkedHits} hits");
    }

    [Fact]
    public void ConcurrentDispatchFromSeveralThreadsReachesTheRightDevices()
    {
        const int Threads = 4;
        const int Iterations = 20_000;
        var bus = new IoBus("pio");
        var devices = Enumerable.Range(0, 16).Select(i => new CountingDevice()).ToArray();
        for (var i = 0; i < devices.Length; i++)
        {
            bus.Register(0x1000 + ((ulong)i * 0x10), 0x10, devices[i]);
        }

        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            Span<byte> data = stackalloc byte[4];
            start.SignalAndWait();
            for (var i = 0; i < Iterations; i++)
            {
                var index = random.Next(devices.Length);
                var offset = (ulong)random.Next(0, 0xd);
                var address = 0x1000 + ((ulong)index * 0x10) + offset;
                BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)offset);
                if (!bus.Write(address, data) || !bus.Read(address, data) || BinaryPrimitives.ReadUInt32LittleEndian(data) != (uint)offset)
                {
                    failures.Enqueue($"thread {t}: 0x{address:x}");
                }

                if (bus.Read(0x900 + offset, data) || data[0] != 0xff)
                {
                    failures.Enqueue($"thread {t}: unclaimed 0x{0x900 + offset:x} answered");
                }
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Empty(failures);
        Assert.Equal(Threads * Iterations * 2L, devices.Sum(d => d.Accesses));
        Assert.Equal(0L, devices.Sum(d => d.BadOffsets));
    }

    [Fact]
    public void UnregisterReleasesOnlyTheOwnersRangeAndAllowsReclaiming()
    {
        var bus = new IoBus("mmio");
        var a = new RecordingDevice(0x10);
        var b = new RecordingDevice(0x20);
        bus.Register(0x1000, 0x100, a);
        bus.Register(0x2000, 0x100, b);

        Assert.False(bus.Unregister(0x1000, b)); // not b's range
        Assert.False(bus.Unregister(0x1004, a)); // not a range start
        Assert.True(bus.Unregister(0x1000, a));
        Assert.False(bus.Unregister(0x1000, a));

        Span<byte> data = stackalloc byte[1];
        Assert.False(bus.Read(0x1000, data));
        Assert.Equal(0xff, data[0]);
        Assert.True(bus.Read(0x2001, data));
        bus.Register(0x1080, 0x100, b); // the freed space can be claimed again
        Assert.True(bus.Read(0x1080, data));
        Assert.Equal(0x20, data[0]);
    }

    [Fact]
    public void TryRegisterRefusesOverlapsWrapsAndEmptyRangesWithoutThrowing()
    {
        var bus = new IoBus("mmio");
        var a = new RecordingDevice(0x10);
        Assert.True(bus.TryRegister(0x1000, 0x100, a));
        Assert.False(bus.TryRegister(0x10ff, 0x10, a));
        Assert.False(bus.TryRegister(0xff0, 0x11, a));
        Assert.False(bus.TryRegister(0x5000, 0, a));
        Assert.False(bus.TryRegister(ulong.MaxValue - 0xf, 0x20, a));
        Assert.True(bus.TryRegister(0x1100, 0x10, a));
    }

    [Fact]
    public async Task DispatchRunsWhileRangesComeAndGo()
    {
        var bus = new IoBus("mmio");
        var fixedDevice = new RecordingDevice(0x10);
        bus.Register(0, 0x10, fixedDevice);
        var mover = Task.Run(() =>
        {
            var moving = new RecordingDevice(0x20);
            for (var i = 0; i < 2000; i++)
            {
                var start = 0x100 + ((ulong)(i % 16) * 0x100);
                bus.Register(start, 0x100, moving);
                Assert.True(bus.Unregister(start, moving));
            }
        });

        var data = new byte[1];
        while (!mover.IsCompleted)
        {
            Assert.True(bus.Read(4, data));
            Assert.Equal(0x14, data[0]);
        }

        await mover;
    }

    /// <summary>Thread-safe: counts accesses and checks that each write's data equals its offset; reads echo the offset.</summary>
    private sealed class CountingDevice : IBusDevice
    {
        private long _accesses;
        private long _badOffsets;

        public long Accesses => Interlocked.Read(ref _accesses);

        public long BadOffsets => Interlocked.Read(ref _badOffsets);

        public void Read(ulong offset, Span<byte> data)
        {
            Interlocked.Increment(ref _accesses);
            BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)offset);
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            Interlocked.Increment(ref _accesses);
            if (offset >= 0x10 || BinaryPrimitives.ReadUInt32LittleEndian(data) != (uint)offset)
            {
                Interlocked.Increment(ref _badOffsets);
            }
        }
    }
}
