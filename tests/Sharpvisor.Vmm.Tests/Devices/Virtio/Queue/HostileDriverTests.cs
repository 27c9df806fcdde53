using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

/// <summary>
/// A driver that breaks the rules gets a <see cref="VirtqueueException"/> with a reason, and nothing else: no
/// GuestMemoryException (which would mean an attempted access outside RAM), no other exception, no hang.
/// </summary>
public sealed class HostileDriverTests : IDisposable
{
    private const ulong Table = MockDriver.DescriptorTableAddress;
    private const ulong Data = 0x10000;
    private const ushort Size = 8;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), SplitVirtqueueTests.RamSize), (new GuestAddress(SplitVirtqueueTests.HighRam), 64 * 1024)]);
    private readonly MockDriver _driver;
    private readonly SplitVirtqueue _queue;

    public HostileDriverTests()
    {
        _driver = new MockDriver(_memory, Size, VirtqueueFeatures.IndirectDescriptors);
        _queue = _driver.CreateDevice();
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Publishes <paramref name="head"/> and expects the pop to fail with a message containing <paramref name="reason"/>.</summary>
    private void AssertRefused(ushort head, string reason, SplitVirtqueue? queue = null)
    {
        queue ??= _queue;
        _driver.PutAvailable(head);
        _driver.Kick();
        var before = queue.NextAvailableIndex;
        var error = Assert.Throws<VirtqueueException>(() => queue.TryPop(_memory, out _));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        // The queue does not move past a bad chain: the error stays until the device is reset.
        Assert.Equal(before, queue.NextAvailableIndex);
        Assert.Throws<VirtqueueException>(() => queue.TryPop(_memory, out _));
    }

    private void Descriptor(ushort index, ulong address, uint length, DescriptorFlags flags = DescriptorFlags.None, ushort next = 0) =>
        _driver.WriteDescriptor(Table, index, address, length, flags, next);

    [Fact]
    public void HeadIndexNotBelowTheQueueSize()
    {
        AssertRefused(Size, "head index 8 is not below the queue size 8");
    }

    [Fact]
    public void HeadIndexFFFF()
    {
        AssertRefused(0xFFFF, "head index 65535");
    }

    [Fact]
    public void AvailableIndexTooFarAhead()
    {
        _driver.SetAvailableIndex(Size + 1);
        var error = Assert.Throws<VirtqueueException>(() => _queue.TryPop(_memory, out _));
        Assert.Contains("more than the queue size", error.Message, StringComparison.Ordinal);
        _driver.SetAvailableIndex(0xFFFF); // "behind" the device is far ahead modulo 2^16
        Assert.Throws<VirtqueueException>(() => _queue.TryPop(_memory, out _));
    }

    [Fact]
    public void SelfLoop()
    {
        Descriptor(3, Data, 4, DescriptorFlags.Next, 3);
        AssertRefused(3, "longer than the queue size 8 (a loop)");
    }

    [Fact]
    public void LoopThroughSeveralDescriptors()
    {
        Descriptor(0, Data, 4, DescriptorFlags.Next, 1);
        Descriptor(1, Data, 4, DescriptorFlags.Next, 2);
        Descriptor(2, Data, 4, DescriptorFlags.Next, 0);
        AssertRefused(0, "(a loop)");
    }

    [Fact]
    public void LoopOfZeroLengthDescriptors()
    {
        Descriptor(0, 0, 0, DescriptorFlags.Next, 1);
        Descriptor(1, 0, 0, DescriptorFlags.Next, 0);
        AssertRefused(0, "(a loop)");
    }

    [Fact]
    public void AChainOfExactlyTheQueueSizeIsFine()
    {
        for (ushort i = 0; i < Size; i++)
        {
            Descriptor(i, Data + i, 1, i == Size - 1 ? DescriptorFlags.None : DescriptorFlags.Next, (ushort)(i + 1));
        }

        _driver.PutAvailable(0);
        _driver.Kick();
        Assert.True(_queue.TryPop(_memory, out var chain));
        Assert.Equal(Size, chain.DescriptorCount);
    }

    [Fact]
    public void NextIndexOutsideTheTable()
    {
        Descriptor(0, Data, 4, DescriptorFlags.Next, Size);
        AssertRefused(0, "next index 8 is outside a table of 8 descriptors");
    }

    [Theory]
    [InlineData(SplitVirtqueueTests.RamSize, 1u)] // just past the end of low RAM
    [InlineData(SplitVirtqueueTests.RamSize - 4, 8u)] // straddling the end of low RAM
    [InlineData(0xC000_0000UL, 16u)] // the MMIO hole
    [InlineData(0xFEE0_0000UL, 4u)] // the local APIC page, inside the hole
    [InlineData((4UL << 30) + (64 * 1024) - 1, 2u)] // straddling the end of high RAM
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL, 0x20u)] // wraps the address space
    [InlineData(0x1_0000_0000_0000UL, 1u)]
    public void BuffersOutsideRam(ulong address, uint length)
    {
        Descriptor(0, Data, 4, DescriptorFlags.Next, 1);
        Descriptor(1, address, length, DescriptorFlags.Write, 0);
        AssertRefused(0, "descriptor 1 buffer");
    }

    [Fact]
    public void ReadableAfterWritable()
    {
        Descriptor(0, Data, 4, DescriptorFlags.Write | DescriptorFlags.Next, 1);
        Descriptor(1, Data, 4);
        AssertRefused(0, "readable descriptor 1 after a writable one");
    }

    [Fact]
    public void ReadableAfterZeroLengthWritable()
    {
        Descriptor(0, Data, 0, DescriptorFlags.Write | DescriptorFlags.Next, 1);
        Descriptor(1, Data, 4);
        AssertRefused(0, "after a writable one");
    }

    [Fact]
    public void LengthsWhoseSumOverflowsU32()
    {
        // Enough RAM (reserved, never touched) that each buffer alone is valid.
        using var memory = GuestMemory.Create([(new GuestAddress(0), 3UL << 30)]);
        var driver = new MockDriver(memory, Size);
        var queue = driver.CreateDevice();
        driver.WriteDescriptor(Table, 0, 0x10_0000, 0x8000_0000, DescriptorFlags.Next, 1);
        driver.WriteDescriptor(Table, 1, 0x10_0000, 0x8000_0000, DescriptorFlags.Write, 0);
        driver.PutAvailable(0);
        driver.Kick();
        var error = Assert.Throws<VirtqueueException>(() => queue.TryPop(memory, out _));
        Assert.Contains("exceeds 4 GiB", error.Message, StringComparison.Ordinal);

        // Just under the limit is accepted.
        driver.WriteDescriptor(Table, 1, 0x10_0000, 0x7FFF_FFFF, DescriptorFlags.Write, 0);
        Assert.True(queue.TryPop(memory, out var chain));
        Assert.Equal(uint.MaxValue, chain.ReadableLength + chain.WritableLength);
    }

    [Fact]
    public void IndirectWithoutTheFeature()
    {
        var driver = new MockDriver(_memory, Size);
        var queue = driver.CreateDevice();
        driver.WriteIndirectTable(0x8000, new Buffer(Data, 4));
        driver.WriteDescriptor(Table, 0, 0x8000, 16, DescriptorFlags.Indirect, 0);
        driver.PutAvailable(0);
        driver.Kick();
        var error = Assert.Throws<VirtqueueException>(() => queue.TryPop(_memory, out _));
        Assert.Contains("INDIRECT_DESC was not negotiated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NestedIndirect()
    {
        _driver.WriteDescriptor(0x8000, 0, Data, 4, DescriptorFlags.Next, 1);
        _driver.WriteDescriptor(0x8000, 1, 0x9000, 16, DescriptorFlags.Indirect, 0);
        _driver.WriteIndirectTable(0x9000, new Buffer(Data, 4));
        Descriptor(0, 0x8000, 32, DescriptorFlags.Indirect);
        AssertRefused(0, "inside an indirect table");
    }

    [Fact]
    public void IndirectWithNext()
    {
        _driver.WriteIndirectTable(0x8000, new Buffer(Data, 4));
        Descriptor(0, 0x8000, 16, DescriptorFlags.Indirect | DescriptorFlags.Next, 1);
        Descriptor(1, Data, 4);
        AssertRefused(0, "also has NEXT set");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(17u)]
    [InlineData(0xFFFF_FFF0u)]
    public void IndirectTableLengths(uint length)
    {
        Descriptor(0, 0x8000, length, DescriptorFlags.Indirect);
        AssertRefused(0, "indirect table");
    }

    [Theory]
    [InlineData(SplitVirtqueueTests.RamSize - 16, 32u)]
    [InlineData(0xC000_0000UL, 16u)]
    [InlineData(0x8008UL, 16u)]
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL, 32u)]
    public void IndirectTableOutsideRamOrMisaligned(ulong address, uint length)
    {
        Descriptor(0, address, length, DescriptorFlags.Indirect);
        AssertRefused(0, "is misaligned or not inside guest RAM");
    }

    [Fact]
    public void IndirectLoop()
    {
        _driver.WriteDescriptor(0x8000, 0, Data, 4, DescriptorFlags.Next, 1);
        _driver.WriteDescriptor(0x8000, 1, Data, 4, DescriptorFlags.Next, 0);
        Descriptor(0, 0x8000, 32, DescriptorFlags.Indirect);
        AssertRefused(0, "indirect chain longer than its table of 2 descriptors (a loop)");
    }

    [Fact]
    public void IndirectTableLongerThanTheQueueIsRefused()
    {
        // A chain of Size + 1 descriptors, each linking to the next: legal links, but longer than any chain may be.
        for (ushort i = 0; i <= Size; i++)
        {
            _driver.WriteDescriptor(0x8000, i, Data, 4, i < Size ? DescriptorFlags.Next : DescriptorFlags.None, (ushort)(i + 1));
        }

        Descriptor(0, 0x8000, (uint)(Size + 1) * 16, DescriptorFlags.Indirect);
        AssertRefused(0, $"indirect table of {Size + 1} descriptors is longer than the queue size {Size}");
    }

    [Fact]
    public void IndirectNextOutsideItsTable()
    {
        // Entry 2 exists in memory but not in the table the driver declared (two entries).
        _driver.WriteDescriptor(0x8000, 0, Data, 4, DescriptorFlags.Next, 2);
        _driver.WriteDescriptor(0x8000, 2, Data, 4, DescriptorFlags.None, 0);
        Descriptor(0, 0x8000, 32, DescriptorFlags.Indirect);
        AssertRefused(0, "next index 2 is outside a table of 2 descriptors");
    }

    [Fact]
    public void IndirectBufferInTheHole()
    {
        _driver.WriteIndirectTable(0x8000, new Buffer(Data, 4), new Buffer(0xD000_0000, 4, Write: true));
        Descriptor(0, 0x8000, 32, DescriptorFlags.Indirect);
        AssertRefused(0, "descriptor 1 buffer [0xd0000000, +0x4) is not inside guest RAM");
    }

    [Fact]
    public void IndirectReadableAfterWritable()
    {
        _driver.WriteIndirectTable(0x8000, new Buffer(Data, 4, Write: true), new Buffer(Data, 4));
        Descriptor(0, 0x8000, 32, DescriptorFlags.Indirect);
        AssertRefused(0, "readable descriptor 1 after a writable one");
    }

    [Fact]
    public void AGoodChainAfterAResetWorks()
    {
        Descriptor(0, Data, 4, DescriptorFlags.Next, 0);
        AssertRefused(0, "(a loop)");

        // The device answers with NEEDS_RESET; the driver resets and sets the queue up again.
        var driver = new MockDriver(_memory, Size);
        var queue = driver.CreateDevice();
        driver.Add(new Buffer(Data, 4));
        driver.Kick();
        Assert.True(queue.TryPop(_memory, out _));
    }
}
