using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class BootMsrsTests
{
    [Fact]
    public void MtrrDefaultTypeIsEnabledWriteBack()
    {
        var entry = Assert.Single(BootMsrs.Entries(), e => e.index == 0x2FF); // IA32_MTRR_DEF_TYPE

        Assert.Equal(6UL, entry.data & 0xFF); // default memory type WB
        Assert.Equal(1UL << 11, entry.data & (1UL << 11)); // E: MTRRs enabled
        Assert.Equal(0UL, entry.data & ~0xCFFUL); // reserved bits clear
    }

    [Fact]
    public void FastStringsAreEnabled()
    {
        var entry = Assert.Single(BootMsrs.Entries(), e => e.index == 0x1A0); // IA32_MISC_ENABLE
        Assert.Equal(1UL, entry.data & 1);
    }

    [Fact]
    public void SyscallAndSysenterMsrsStartCleared()
    {
        uint[] cleared = [0x174, 0x175, 0x176, 0xC000_0081, 0xC000_0082, 0xC000_0083, 0xC000_0084, 0xC000_0102];
        var entries = BootMsrs.Entries();
        foreach (var index in cleared)
        {
            Assert.Equal(0UL, Assert.Single(entries, e => e.index == index).data);
        }
    }

    [Fact]
    public void EachMsrAppearsOnceWithReservedFieldZero()
    {
        var entries = BootMsrs.Entries();
        Assert.Equal(entries.Length, entries.Select(e => e.index).Distinct().Count());
        Assert.All(entries, e => Assert.Equal(0U, e.reserved));
    }
}
