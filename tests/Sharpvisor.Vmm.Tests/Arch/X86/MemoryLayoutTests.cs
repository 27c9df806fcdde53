using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class MemoryLayoutTests
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    private static (ulong Start, ulong Size)[] Ranges(MemoryLayout layout) => [.. layout.RamRanges.Select(r => (r.Start.Value, r.Size))];

    private static (ulong Start, ulong Size, uint Type)[] E820(MemoryLayout layout) =>
        [.. layout.E820Map.Select(e => (e.Start.Value, e.Size, (uint)e.Type))];

    [Fact]
    public void SmallGuestIsOneLowRange()
    {
        var layout = new MemoryLayout(128 * MiB, 40);

        Assert.Equal([(0UL, 128 * MiB)], Ranges(layout));
        Assert.Equal(new GuestAddress(128 * MiB), layout.LowRamEnd);
        Assert.Equal(0UL, layout.HighRamSize);
        Assert.Equal(
            [(0UL, 0x9fc00UL, 1U), (0x9fc00UL, 0x60400UL, 2U), (0x100000UL, (128 * MiB) - 0x100000, 1U), (0xe000_0000UL, MiB, 2U)],
            E820(layout));
    }

    [Fact]
    public void ThreeGiBFillsExactlyUpToTheHole()
    {
        var layout = new MemoryLayout(3 * GiB, 36);

        Assert.Equal([(0UL, 0xc000_0000UL)], Ranges(layout));
        Assert.Equal(new GuestAddress(0xc000_0000), layout.RamEnd);
        Assert.Equal((0x100000UL, 0xc000_0000UL - 0x100000, 1U), E820(layout)[^2]);
        Assert.Equal((0xe000_0000UL, MiB, 2U), E820(layout)[^1]); // the PCI ECAM window
        Assert.Equal(4, layout.E820Map.Count);
    }

    [Fact]
    public void FourGiBPutsTheLastGiBAboveTheHole()
    {
        var layout = new MemoryLayout(4 * GiB, 36);

        Assert.Equal([(0UL, 0xc000_0000UL), (0x1_0000_0000UL, GiB)], Ranges(layout));
        Assert.Equal(new GuestAddress(0x1_4000_0000), layout.RamEnd);
        Assert.Equal(
            [(0UL, 0x9fc00UL, 1U), (0x9fc00UL, 0x60400UL, 2U), (0x100000UL, 0xbff0_0000UL, 1U), (0xe000_0000UL, MiB, 2U), (0x1_0000_0000UL, GiB, 1U)],
            E820(layout));
    }

    [Fact]
    public void SixtyFourGiB()
    {
        var layout = new MemoryLayout(64 * GiB, 40);

        Assert.Equal([(0UL, 3 * GiB), (4 * GiB, 61 * GiB)], Ranges(layout));
        Assert.Equal(new GuestAddress(65 * GiB), layout.RamEnd);
        Assert.Equal(64 * GiB, layout.E820Map.Where(e => e.Type == E820Type.Ram).Aggregate(0UL, (s, e) => s + e.Size) + 0x60400);
    }

    [Fact]
    public void TooMuchMemoryForTheAddressWidthIsRefused()
    {
        var error = Assert.Throws<InvalidMemorySizeException>(() => MemoryLayout.Validate(2UL << 40, 40));
        Assert.IsAssignableFrom<ArgumentException>(error);
        Assert.Equal(
            "--memory 2 TiB exceeds the 1023 GiB of RAM the guest's 40-bit physical address space (1 TiB) can hold beside the 1 GiB MMIO hole",
            error.Message);
    }

    [Fact]
    public void AddressWidthLimitIsExact()
    {
        MemoryLayout.Validate(1023 * GiB, 40);
        Assert.Throws<InvalidMemorySizeException>(() => MemoryLayout.Validate((1023 * GiB) + 4096, 40));
        MemoryLayout.Validate(3 * GiB, 32);
        Assert.Throws<InvalidMemorySizeException>(() => MemoryLayout.Validate((3 * GiB) + 4096, 32));
        Assert.Throws<InvalidMemorySizeException>(() => MemoryLayout.Validate(ulong.MaxValue & ~0xfffUL, 52));
    }

    [Fact]
    public void BelowMinimumIsRefused()
    {
        var error = Assert.Throws<InvalidMemorySizeException>(() => new MemoryLayout(8 * MiB, 40));
        Assert.Equal("--memory 8 MiB is below the minimum of 16 MiB", error.Message);
        _ = new MemoryLayout(16 * MiB, 40);
    }

    [Fact]
    public void UnalignedSizeIsRefused()
    {
        var error = Assert.Throws<InvalidMemorySizeException>(() => new MemoryLayout((16 * MiB) + 512, 40));
        Assert.Equal("--memory 16777728 bytes is not a multiple of the 4 KiB page size", error.Message);
    }

    [Fact]
    public void LowMemoryAreasAreDisjointAndBetweenTheFirstPageAndTheEbda()
    {
        var areas = new (string Name, ulong Start, ulong Size)[]
        {
            ("page tables", MemoryLayout.PageTableArea.Value, MemoryLayout.PageTableAreaSize),
            ("gdt", MemoryLayout.BootGdt.Value, MemoryLayout.BootGdtSize),
            ("start info", MemoryLayout.StartInfo.Value, MemoryLayout.StartInfoSize),
            ("memmap", MemoryLayout.Memmap.Value, (ulong)MemoryLayout.MaxMemmapEntries * 24),
            ("modules", MemoryLayout.ModuleList.Value, (ulong)MemoryLayout.MaxModules * 32),
            ("zero page", MemoryLayout.ZeroPage.Value, MemoryLayout.ZeroPageSize),
            ("command line", MemoryLayout.CommandLine.Value, MemoryLayout.MaxCommandLineSize),
        };

        foreach (var (name, start, size) in areas)
        {
            Assert.True(start >= 0x1000 && start + size <= 0x9fc00, name);
        }

        foreach (var a in areas)
        {
            foreach (var b in areas.Where(b => b.Name != a.Name))
            {
                Assert.False(a.Start < b.Start + b.Size && b.Start < a.Start + a.Size, $"{a.Name} overlaps {b.Name}");
            }
        }

        Assert.Equal(168, MemoryLayout.MaxMemmapEntries);
        Assert.Equal(0x6000UL + 56, MemoryLayout.StartInfo.Value + MemoryLayout.StartInfoSize);
    }
}
