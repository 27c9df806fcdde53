using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Memory;

/// <summary>Finding the zero pages of guest RAM without faulting in the ones the guest never touched.</summary>
public sealed class ZeroPagesTests
{
    [Fact]
    public void UntouchedPagesAreZeroWithoutBeingReadAndTouchedOnesAreCompared()
    {
        const int Pages = 16384; // 64 MiB
        using var memory = GuestMemory.Create([(new GuestAddress(0), (ulong)Pages * 4096)]);
        var region = memory.Regions[0];
        memory.Write(new GuestAddress(5 * 4096), 1UL);
        memory.Write(new GuestAddress((9000 * 4096) + 4088), 2UL);
        memory.Write(new GuestAddress(7 * 4096), 0UL); // touched, but zeros

        var zeros = new ZeroPages(memory, region);
        var nonZero = Enumerable.Range(0, Pages).Where(p => !zeros.IsZero(p)).ToArray();
        Assert.Equal([5, 9000], nonZero);

        // The scan faulted nothing in: the pages the guest never touched are still untouched.
        var touched = new bool[Pages];
        Assert.True(region.Mapping.TryGetTouchedPages(0, touched), "/proc/self/pagemap is readable here");
        Assert.Equal([5, 7, 9000], Enumerable.Range(0, Pages).Where(p => touched[p]));
    }

    [Fact]
    public void PagesOutsideTheMappingAreRefused()
    {
        using var memory = GuestMemory.Create([(new GuestAddress(0), 1UL << 20)]);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Regions[0].Mapping.TryGetTouchedPages(255 * 4096, new bool[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Regions[0].Mapping.TryGetTouchedPages(100, new bool[1]));
    }
}
