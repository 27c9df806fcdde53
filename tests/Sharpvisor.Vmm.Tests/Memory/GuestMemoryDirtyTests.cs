using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Memory;

/// <summary>The record of the VMM's own writes that a migration adds to KVM's dirty log.</summary>
public sealed class GuestMemoryDirtyTests
{
    private static readonly (GuestAddress, ulong)[] Ranges = [(new GuestAddress(0), 1UL << 20), (new GuestAddress(1UL << 32), 1UL << 20)];

    private static bool IsSet(ulong[] bitmap, int page) => (bitmap[page / 64] & (1UL << (page % 64))) != 0;

    [Fact]
    public void WritesAreRecordedOnlyWhileTrackingAndEachCollectStartsOver()
    {
        using var memory = GuestMemory.Create(Ranges);
        memory.Write(new GuestAddress(0x5000), 1UL); // before tracking: not recorded
        memory.StartDirtyTracking();
        memory.Write(new GuestAddress(0x1ffe), 0x1234_5678U); // straddles pages 1 and 2
        memory.Write(new GuestAddress((1UL << 32) + 0x3000), "x"u8);
        memory.MarkDirty(new GuestAddress(0xF_F000), 4096); // a span write a device reports itself

        var dirty = memory.CollectDirty();
        Assert.Equal([1, 2, 255], Enumerable.Range(0, 256).Where(p => IsSet(dirty[0], p)));
        Assert.Equal([3], Enumerable.Range(0, 256).Where(p => IsSet(dirty[1], p)));
        Assert.All(memory.CollectDirty(), bitmap => Assert.All(bitmap, word => Assert.Equal(0UL, word)));

        memory.StopDirtyTracking();
        memory.Write(new GuestAddress(0x7000), 1UL);
        Assert.Throws<InvalidOperationException>(() => memory.CollectDirty());
    }

    [Fact]
    public void AMarkOutsideRamOrEmptyIsIgnored()
    {
        using var memory = GuestMemory.Create(Ranges);
        memory.StartDirtyTracking();
        memory.MarkDirty(new GuestAddress(0x8000_0000), 4096);
        memory.MarkDirty(new GuestAddress(0xFFFF_FFFF_FFFF_F000), 0x2000);
        memory.MarkDirty(new GuestAddress(0x1000), 0);
        Assert.All(memory.CollectDirty(), bitmap => Assert.All(bitmap, word => Assert.Equal(0UL, word)));
    }

    [Fact]
    public void MarksFromManyThreadsAreAllKept()
    {
        using var memory = GuestMemory.Create(Ranges);
        memory.StartDirtyTracking();
        Parallel.For(0, 256, page => memory.MarkDirty(new GuestAddress((ulong)page * 4096), 1));
        var dirty = memory.CollectDirty();
        Assert.All(dirty[0], word => Assert.Equal(ulong.MaxValue, word));
    }
}
