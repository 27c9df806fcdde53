using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

public sealed class SplitVirtqueueTests : IDisposable
{
    internal const ulong RamSize = 256 * 1024;
    internal const ulong HighRam = 4UL << 30;
    private const ulong Data = 0x10000;

    // Low RAM, the MMIO hole, then a little RAM above 4 GiB, like the real machine's map.
    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), RamSize), (new GuestAddress(HighRam), 64 * 1024)]);

    public void Dispose() => _memory.Dispose();

    private static SplitVirtqueueConfig Config(ushort size, ulong table = MockDriver.DescriptorTableAddress, ulong available = MockDriver.AvailableRingAddress, ulong used = MockDriver.UsedRingAddress) =>
        new(size, new GuestAddress(table), new GuestAddress(available), new GuestAddress(used));

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)3)]
    [InlineData((ushort)48)]
    [InlineData((ushort)65535)]
    [InlineData((ushort)0x8001)]
    public void SizesThatAreNotPowersOfTwoUpTo32768AreRefused(ushort size)
    {
        Assert.False(SplitVirtqueue.TryCreate(_memory, Config(size), out var queue, out var error));
        Assert.Null(queue);
        Assert.Contains("queue size", error, StringComparison.Ordinal);
        Assert.Throws<VirtqueueException>(() => new SplitVirtqueue(_memory, Config(size)));
    }

    [Theory]
    [InlineData(0x1008UL, 0x3000UL, 0x4000UL, "descriptor table address 0x1008 is not 16-byte aligned")]
    [InlineData(0x1000UL, 0x3001UL, 0x4000UL, "available ring address 0x3001 is not 2-byte aligned")]
    [InlineData(0x1000UL, 0x3000UL, 0x4002UL, "used ring address 0x4002 is not 4-byte aligned")]
    [InlineData(0xC000_0000UL, 0x3000UL, 0x4000UL, "descriptor table [0xc0000000, +0x1000) is not inside one region of guest RAM")]
    [InlineData(0x1000UL, RamSize - 0x100, 0x4000UL, "available ring [0x3ff00, +0x206) is not inside one region of guest RAM")]
    [InlineData(0x1000UL, 0x3000UL, 0xFFFF_FFFF_FFFF_FFFCUL, "used ring [0xfffffffffffffffc, +0x806) is not inside one region of guest RAM")]
    [InlineData(0x1000UL, 0x3000UL, HighRam - 0x400, "used ring [0xfffffc00, +0x806) is not inside one region of guest RAM")]
    public void RingsMustBeAlignedAndInsideRam(ulong table, ulong available, ulong used, string expected)
    {
        Assert.False(SplitVirtqueue.TryCreate(_memory, Config(256, table, available, used), out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void RingsAboveTheHoleAndTheLargestSizeAreAccepted()
    {
        Assert.Null(SplitVirtqueue.Validate(_memory, Config(1024, HighRam, HighRam + 0x4000, HighRam + 0x5000)));
        using var big = GuestMemory.Create([(new GuestAddress(0), 2UL << 20)]);
        Assert.Null(SplitVirtqueue.Validate(big, Config(32768, 0, 0x80000, 0x90000)));
        Assert.Equal(0x80000UL, SplitVirtqueue.DescriptorTableSize(32768));
        Assert.Equal(6 + (2UL * 32768), SplitVirtqueue.AvailableRingSize(32768));
        Assert.Equal(6 + (8UL * 32768), SplitVirtqueue.UsedRingSize(32768));
    }

    [Fact]
    public void AnEmptyQueuePopsNothing()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        Assert.False(queue.TryPop(_memory, out var chain));
        Assert.Null(chain);
        driver.Add(new Buffer(Data, 4));
        Assert.False(queue.TryPop(_memory, out _)); // added but not published
    }

    [Fact]
    public void SingleReadableDescriptor()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        _memory.Write(new GuestAddress(Data), "hello"u8);
        var head = driver.Add(new Buffer(Data, 5));
        driver.Kick();

        Assert.True(queue.TryPop(_memory, out var chain));
        Assert.Equal(head, chain.HeadIndex);
        Assert.Equal([new GuestSegment(new GuestAddress(Data), 5)], chain.Readable);
        Assert.Empty(chain.Writable.ToArray());
        Assert.Equal(5u, chain.ReadableLength);
        Assert.Equal(0u, chain.WritableLength);
        Assert.Equal(1, chain.DescriptorCount);
        var bytes = new byte[8];
        Assert.Equal(5, chain.CopyFromReadable(_memory, bytes));
        Assert.Equal("hello"u8.ToArray(), bytes[..5]);
        Assert.Equal(0, chain.CopyToWritable(_memory, "x"u8));
        Assert.False(queue.TryPop(_memory, out _));

        queue.Push(_memory, chain.HeadIndex, 0);
        Assert.Equal([(head, 0u)], driver.TakeUsed());
    }

    [Fact]
    public void MultiDescriptorChainSplitsReadableAndWritable()
    {
        var driver = new MockDriver(_memory, 16);
        var queue = driver.CreateDevice();
        _memory.Write(new GuestAddress(Data), "abc"u8);
        _memory.Write(new GuestAddress(Data + 0x100), "defgh"u8);
        driver.Add(new Buffer(Data, 3), new Buffer(Data + 0x100, 5), new Buffer(Data + 0x200, 2, Write: true), new Buffer(Data + 0x300, 10, Write: true));
        driver.Kick();

        Assert.True(queue.TryPop(_memory, out var chain));
        Assert.Equal(4, chain.DescriptorCount);
        Assert.Equal(8u, chain.ReadableLength);
        Assert.Equal(12u, chain.WritableLength);
        Assert.Equal([Data, Data + 0x100], chain.Readable.ToArray().Select(s => s.Address.Value));
        Assert.Equal([Data + 0x200, Data + 0x300], chain.Writable.ToArray().Select(s => s.Address.Value));

        var all = new byte[8];
        chain.ReadExactly(_memory, all);
        Assert.Equal("abcdefgh"u8.ToArray(), all);
        var middle = new byte[4];
        Assert.Equal(4, chain.CopyFromReadable(_memory, middle, offset: 2));
        Assert.Equal("cdef"u8.ToArray(), middle);
        Assert.Equal(1, chain.CopyFromReadable(_memory, middle, offset: 7));
        Assert.Equal(0, chain.CopyFromReadable(_memory, middle, offset: 100));
        Assert.Throws<VirtqueueException>(() => chain.ReadExactly(_memory, new byte[9]));

        // Written across the segment boundary, truncated at the end of the writable part.
        Assert.Equal(12, chain.CopyToWritable(_memory, "0123456789ABCDEF"u8));
        Assert.Equal("01"u8.ToArray(), ReadBytes(Data + 0x200, 2));
        Assert.Equal("23456789AB"u8.ToArray(), ReadBytes(Data + 0x300, 10));
        Assert.Equal(3, chain.CopyToWritable(_memory, "xyz"u8, offset: 1));
        Assert.Equal("0x"u8.ToArray(), ReadBytes(Data + 0x200, 2));
        Assert.Equal("yz"u8.ToArray(), ReadBytes(Data + 0x300, 2));
    }

    [Fact]
    public void IndirectChain()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.IndirectDescriptors);
        var queue = driver.CreateDevice();
        Assert.True(queue.IndirectDescriptors);
        var head = driver.AddIndirect(0x8000, new Buffer(Data, 16), new Buffer(Data + 0x100, 1, Write: true), new Buffer(Data + 0x200, 512, Write: true));
        driver.Kick();

        Assert.True(queue.TryPop(_memory, out var chain));
        Assert.Equal(head, chain.HeadIndex);
        Assert.Equal(4, chain.DescriptorCount);
        Assert.Equal([new GuestSegment(new GuestAddress(Data), 16)], chain.Readable);
        Assert.Equal([new GuestSegment(new GuestAddress(Data + 0x100), 1), new GuestSegment(new GuestAddress(Data + 0x200), 512)], chain.Writable);
        Assert.Equal(7, driver.FreeDescriptors);
    }

    [Fact]
    public void DirectDescriptorsMayLeadToAnIndirectTable()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.IndirectDescriptors);
        var queue = driver.CreateDevice();
        driver.WriteIndirectTable(0x8000, new Buffer(Data + 0x100, 8), new Buffer(Data + 0x200, 8, Write: true));
        driver.WriteDescriptor(MockDriver.DescriptorTableAddress, 2, Data, 4, DescriptorFlags.Next, 5);
        // The WRITE flag on the indirect descriptor itself means nothing.
        driver.WriteDescriptor(MockDriver.DescriptorTableAddress, 5, 0x8000, 32, DescriptorFlags.Indirect | DescriptorFlags.Write, 0);
        driver.PutAvailable(2);
        driver.Kick();

        Assert.True(queue.TryPop(_memory, out var chain));
        Assert.Equal(4, chain.DescriptorCount);
        Assert.Equal([Data, Data + 0x100], chain.Readable.ToArray().Select(s => s.Address.Value));
        Assert.Equal([Data + 0x200], chain.Writable.ToArray().Select(s => s.Address.Value));
    }

    [Fact]
    public void ZeroLengthDescriptorsAreHarmless()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        // A zero-length buffer may name any address: nothing is ever accessed there.
        driver.Add(new Buffer(0xFFFF_FFFF_FFFF_FFFF, 0), new Buffer(Data, 4), new Buffer(0xC000_0000, 0, Write: true));
        driver.Kick();

        Assert.True(queue.TryPop(_memory, out var chain));
        Assert.Equal(3, chain.DescriptorCount);
        Assert.Equal([new GuestSegment(new GuestAddress(Data), 4)], chain.Readable);
        Assert.Empty(chain.Writable.ToArray());
        Assert.Equal(0, chain.CopyToWritable(_memory, "x"u8));
    }

    [Fact]
    public void ABufferAcrossAdjacentRegionsBecomesTwoSegments()
    {
        using var memory = GuestMemory.Create([(new GuestAddress(0), 0x20000), (new GuestAddress(0x20000), 0x10000)]);
        var driver = new MockDriver(memory, 8);
        var queue = driver.CreateDevice();
        driver.Add(new Buffer(0x1FFF0, 0x20, Write: true));
        driver.Kick();

        Assert.True(queue.TryPop(memory, out var chain));
        Assert.Equal([new GuestSegment(new GuestAddress(0x1FFF0), 0x10), new GuestSegment(new GuestAddress(0x20000), 0x10)], chain.Writable);
        Assert.Equal(0x20, chain.CopyToWritable(memory, Enumerable.Range(0, 0x20).Select(i => (byte)i).ToArray()));
        Assert.Equal((byte)0x10, memory.Read<byte>(new GuestAddress(0x20000)));
    }

    [Fact]
    public void AReusedChainHoldsOnlyTheLatestPop()
    {
        var driver = new MockDriver(_memory, 128);
        var queue = driver.CreateDevice();
        var reused = new DescriptorChain();

        // A long chain grows the segment list past what the chain keeps; the short one after it must not see its tail.
        var many = Enumerable.Range(0, 100).Select(i => new Buffer(Data + (0x10UL * (ulong)i), 4)).Append(new Buffer(Data + 0x1000, 8, Write: true)).ToArray();
        var first = driver.Add(many);
        var second = driver.Add(new Buffer(Data + 0x2000, 6, Write: true));
        driver.Kick();

        Assert.True(queue.TryPop(_memory, reused));
        Assert.Equal(first, reused.HeadIndex);
        Assert.Equal(100, reused.Readable.Length);
        Assert.Equal(400u, reused.ReadableLength);
        Assert.Equal([new GuestSegment(new GuestAddress(Data + 0x1000), 8)], reused.Writable);
        queue.Push(_memory, reused.HeadIndex, 0);

        Assert.True(queue.TryPop(_memory, reused));
        Assert.Equal(second, reused.HeadIndex);
        Assert.Equal(0, reused.Readable.Length);
        Assert.Equal(0u, reused.ReadableLength);
        Assert.Equal([new GuestSegment(new GuestAddress(Data + 0x2000), 6)], reused.Writable);
        Assert.Equal(1, reused.DescriptorCount);
        Assert.False(queue.TryPop(_memory, reused));
    }

    [Fact]
    public void AChainThatFailsTheWalkLeavesNothingBehind()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        var reused = new DescriptorChain();
        driver.Add(new Buffer(Data, 4), new Buffer(Data + 0x100, 4, Write: true));
        driver.Kick();
        Assert.True(queue.TryPop(_memory, reused));
        queue.Push(_memory, reused.HeadIndex, 0);

        // A readable descriptor after a writable one: refused, and the chain no longer claims the previous buffers.
        driver.Add(new Buffer(Data + 0x200, 4, Write: true), new Buffer(Data + 0x300, 4));
        driver.Kick();
        Assert.Throws<VirtqueueException>(() => queue.TryPop(_memory, reused));
        Assert.Equal(0, reused.Readable.Length + reused.Writable.Length);
        Assert.Equal(0u, reused.ReadableLength + reused.WritableLength);
    }

    [Theory]
    [InlineData(0UL, 100UL, int.MaxValue, "10+3 20+5")]
    [InlineData(2UL, 100UL, int.MaxValue, "12+1 20+5")]
    [InlineData(3UL, 4UL, int.MaxValue, "20+4")]
    [InlineData(0UL, 8UL, 2, "10+2 12+1 20+2 22+2 24+1")]
    [InlineData(8UL, 1UL, int.MaxValue, "")]
    [InlineData(0UL, 0UL, int.MaxValue, "")]
    public void ASegmentCursorWalksTheAskedBytesInPieces(ulong skip, ulong length, int maxPiece, string expected)
    {
        GuestSegment[] segments = [new(new GuestAddress(0x10), 3), new(new GuestAddress(0x20), 5)];
        var cursor = new SegmentCursor(segments, skip, length, maxPiece);
        var pieces = new List<string>();
        while (cursor.MoveNext(out var address, out var pieceLength))
        {
            pieces.Add($"{address.Value:x}+{pieceLength}");
        }

        Assert.Equal(expected, string.Join(' ', pieces));
    }

    [Fact]
    public void IndicesWrapPastFFFF()
    {
        var driver = new MockDriver(_memory, 16, startIndex: 0xFFF0);
        var queue = driver.CreateDevice();
        var expected = new List<(uint, uint)>();
        for (var round = 0; round < 10; round++)
        {
            var heads = Enumerable.Range(0, 5).Select(i => driver.Add(new Buffer(Data + (0x100UL * (ulong)i), 8, Write: true))).ToArray();
            driver.Kick();
            for (var i = 0; i < heads.Length; i++)
            {
                Assert.True(queue.TryPop(_memory, out var chain));
                Assert.Equal(heads[i], chain.HeadIndex);
                var length = (uint)((round * 10) + i);
                queue.Push(_memory, chain.HeadIndex, length);
                expected.Add((heads[i], length));
            }

            Assert.False(queue.TryPop(_memory, out _));
            Assert.Equal(expected[^5..], driver.TakeUsed());
        }

        Assert.Equal((ushort)0x22, queue.NextAvailableIndex);
        Assert.Equal((ushort)0x22, queue.NextUsedIndex);
        Assert.Equal((ushort)0x22, driver.UsedIndex);
    }

    [Fact]
    public void IndicesWrapFromZeroOverManyRoundTrips()
    {
        var driver = new MockDriver(_memory, 4);
        var queue = driver.CreateDevice();
        for (var i = 0; i < 70_000; i++)
        {
            var head = driver.Add(new Buffer(Data, 1), new Buffer(Data + 0x10, 4, Write: true));
            driver.Kick();
            Assert.True(queue.TryPop(_memory, out var chain));
            queue.Push(_memory, chain.HeadIndex, (uint)i);
            var used = Assert.Single(driver.TakeUsed());
            Assert.Equal((head, (uint)i), used);
        }

        Assert.Equal((ushort)(70_000 & 0xFFFF), driver.UsedIndex);
    }

    [Fact]
    public void ManyChainsInFlightCompleteInAnyOrder()
    {
        var driver = new MockDriver(_memory, 32);
        var queue = driver.CreateDevice();
        var heads = Enumerable.Range(0, 16).Select(i => driver.Add(new Buffer(Data + (0x100UL * (ulong)i), 4), new Buffer(Data + 0x2000 + (0x100UL * (ulong)i), 4, Write: true))).ToArray();
        driver.Kick();
        Assert.Equal(0, driver.FreeDescriptors);

        var popped = new List<DescriptorChain>();
        while (queue.TryPop(_memory, out var chain))
        {
            popped.Add(chain);
        }

        Assert.Equal(heads, popped.Select(c => c.HeadIndex));
        Assert.Equal(16, queue.InFlight);

        // Complete in reverse order: the used ring records completion order, not submission order.
        for (var i = popped.Count - 1; i >= 0; i--)
        {
            queue.Push(_memory, popped[i].HeadIndex, (uint)(i * 3));
        }

        Assert.Equal(0, queue.InFlight);
        Assert.Throws<InvalidOperationException>(() => queue.Push(_memory, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => queue.Push(_memory, 32, 0));
        var used = driver.TakeUsed();
        Assert.Equal(Enumerable.Range(0, 16).Reverse().Select(i => ((uint)heads[i], (uint)(i * 3))), used);
        Assert.Equal(32, driver.FreeDescriptors);
    }

    [Fact]
    public void NoInterruptFlagSuppressesUsedNotifications()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        Assert.False(queue.NeedsNotification(_memory)); // nothing used yet

        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));
        Assert.False(queue.NeedsNotification(_memory)); // nothing new since

        driver.SetNoInterrupt(true);
        RoundTrip(driver, queue);
        Assert.False(queue.NeedsNotification(_memory));

        driver.SetNoInterrupt(false);
        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));
    }

    [Fact]
    public void UsedEventDecidesUsedNotificationsWithEventIndex()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.EventIndex);
        var queue = driver.CreateDevice();
        Assert.True(queue.EventIndex);

        // used_event = 0: the driver wants to hear when entry 0 is used.
        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));

        // used_event = 3: entries 1 and 2 pass silently, entry 3 notifies.
        driver.SetUsedEvent(3);
        RoundTrip(driver, queue);
        Assert.False(queue.NeedsNotification(_memory));
        RoundTrip(driver, queue);
        Assert.False(queue.NeedsNotification(_memory));
        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));

        // Several pushes batched: one notification when the batch crosses used_event.
        driver.SetUsedEvent(5);
        RoundTrip(driver, queue);
        RoundTrip(driver, queue);
        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));

        // The NO_INTERRUPT flag means nothing under EVENT_IDX.
        driver.SetNoInterrupt(true);
        driver.SetUsedEvent(7);
        RoundTrip(driver, queue);
        Assert.True(queue.NeedsNotification(_memory));
    }

    [Fact]
    public void UsedEventWorksAcrossTheWrap()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.EventIndex, startIndex: 0xFFFE);
        var queue = driver.CreateDevice();
        driver.SetUsedEvent(0x0000);
        RoundTrip(driver, queue); // used 0xFFFE
        Assert.False(queue.NeedsNotification(_memory));
        RoundTrip(driver, queue); // used 0xFFFF
        RoundTrip(driver, queue); // used 0x0000
        Assert.True(queue.NeedsNotification(_memory));
    }

    [Theory]
    [InlineData(0, 1, 0, true)]
    [InlineData(0, 0, 0, false)]
    [InlineData(3, 3, 0, false)]
    [InlineData(3, 4, 0, true)]
    [InlineData(3, 4, 4, false)]
    [InlineData(0xFFFF, 0x0000, 0xFFFE, true)]
    [InlineData(0x0001, 0x0001, 0xFFFE, false)]
    [InlineData(0x0001, 0x0002, 0xFFFE, true)]
    public void NeedEventIsTheSpecRule(int eventIndex, int newIndex, int oldIndex, bool expected) =>
        Assert.Equal(expected, SplitVirtqueue.NeedEvent((ushort)eventIndex, (ushort)newIndex, (ushort)oldIndex));

    [Fact]
    public void NoNotifyFlagSuppressesDriverNotifications()
    {
        var driver = new MockDriver(_memory, 8);
        var queue = driver.CreateDevice();
        queue.DisableNotifications(_memory);
        Assert.Equal(1, driver.UsedFlags);
        Assert.False(queue.EnableNotifications(_memory));
        Assert.Equal(0, driver.UsedFlags);

        // Buffers that arrived while notifications were off are reported, so the device does not sleep on them.
        queue.DisableNotifications(_memory);
        driver.Add(new Buffer(Data, 1));
        driver.Kick();
        Assert.True(queue.EnableNotifications(_memory));
        Assert.True(queue.TryPop(_memory, out _));
        Assert.False(queue.EnableNotifications(_memory));
    }

    [Fact]
    public void AvailableEventSuppressesDriverNotificationsWithEventIndex()
    {
        var driver = new MockDriver(_memory, 8, VirtqueueFeatures.EventIndex, startIndex: 0xFFFE);
        var queue = driver.CreateDevice();
        queue.DisableNotifications(_memory);
        Assert.Equal(0, driver.UsedFlags); // no flag under EVENT_IDX

        Assert.False(queue.EnableNotifications(_memory));
        Assert.Equal(0xFFFE, driver.AvailableEvent);

        driver.Add(new Buffer(Data, 1));
        driver.Add(new Buffer(Data, 1));
        driver.Add(new Buffer(Data, 1));
        driver.Kick();
        // The driver's rule: notify when avail->idx moved past avail_event since its last publish.
        Assert.True(SplitVirtqueue.NeedEvent(driver.AvailableEvent, 0x0001, 0xFFFE));
        Assert.True(queue.EnableNotifications(_memory));
        while (queue.TryPop(_memory, out _))
        {
        }

        Assert.False(queue.EnableNotifications(_memory));
        Assert.Equal(0x0001, driver.AvailableEvent);
    }

    private void RoundTrip(MockDriver driver, SplitVirtqueue queue)
    {
        driver.Add(new Buffer(Data, 4, Write: true));
        driver.Kick();
        Assert.True(queue.TryPop(_memory, out var chain));
        queue.Push(_memory, chain.HeadIndex, 4);
        driver.TakeUsed();
    }

    private byte[] ReadBytes(ulong address, int length)
    {
        var bytes = new byte[length];
        _memory.Read(new GuestAddress(address), bytes);
        return bytes;
    }
}
