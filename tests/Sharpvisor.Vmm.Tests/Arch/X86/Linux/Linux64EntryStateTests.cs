using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

public sealed class Linux64EntryStateTests
{
    private const ulong GdtAddress = 0x5000;
    private const ulong Pml4 = 0x9000;

    private static kvm_sregs Entry() => VcpuBootState.ForLinux64Entry(VcpuResetState.Sregs(), GdtAddress, Pml4);

    [Fact]
    public void ControlRegistersAreLongModeWithPaging()
    {
        var s = Entry();

        Assert.Equal(0x8000_0011UL, s.cr0); // PG | ET | PE; CD and NW clear
        Assert.Equal(Pml4, s.cr3);
        Assert.Equal(0x20UL, s.cr4); // PAE
        Assert.Equal(0x500UL, s.efer); // LME | LMA
        Assert.Equal(0xFEE0_0900UL, s.apic_base);
    }

    [Fact]
    public void SegmentsAreBootCsAndBootDs()
    {
        var s = Entry();

        Assert.Equal(0x10, s.cs.selector); // __BOOT_CS
        Assert.Equal(1, s.cs.l);
        Assert.Equal(0, s.cs.db);
        Assert.Equal(0xB, s.cs.type);
        foreach (var data in new[] { s.ds, s.es, s.ss, s.fs, s.gs })
        {
            Assert.Equal(0x18, data.selector); // __BOOT_DS
            Assert.Equal(0x3, data.type);
            Assert.Equal(0, data.l);
        }

        foreach (var seg in new[] { s.cs, s.ds, s.es, s.ss, s.fs, s.gs })
        {
            Assert.Equal(0UL, seg.@base);
            Assert.Equal(0xFFFF_FFFFU, seg.limit);
            Assert.True(seg.present == 1 && seg.s == 1 && seg.dpl == 0 && seg.g == 1 && seg.unusable == 0);
        }

        Assert.Equal(0x20, s.tr.selector);
        Assert.Equal(0xB, s.tr.type); // busy 64-bit TSS
    }

    [Fact]
    public void GdtDescriptorsMatchTheSegmentRegisters()
    {
        var s = Entry();
        var gdt = VcpuBootState.LongModeGdt();

        Assert.Equal(GdtAddress, s.gdt.@base);
        Assert.Equal((gdt.Length * 8) - 1, s.gdt.limit);
        Assert.Equal(0UL, gdt[0]);
        foreach (var seg in new[] { s.cs, s.ds, s.es, s.fs, s.gs, s.ss })
        {
            var d = gdt[seg.selector >> 3];
            Assert.Equal((ulong)seg.type, (d >> 40) & 0xF);
            Assert.Equal((ulong)seg.s, (d >> 44) & 1);
            Assert.Equal((ulong)seg.present, (d >> 47) & 1);
            Assert.Equal((ulong)seg.l, (d >> 53) & 1);
            Assert.Equal((ulong)seg.db, (d >> 54) & 1);
            Assert.Equal((ulong)seg.g, (d >> 55) & 1);
            Assert.Equal(0UL, ((d >> 16) & 0xFF_FFFF) | ((d >> 56) << 24)); // base
            Assert.Equal(0xF_FFFFUL, (d & 0xFFFF) | (((d >> 48) & 0xF) << 16)); // limit in 4 KiB units
        }

        // The 64-bit TSS descriptor takes two slots: 0x20 and 0x28, both inside the limit.
        Assert.True(s.tr.selector + 15 <= s.gdt.limit);
        Assert.Equal(0xBUL, (gdt[4] >> 40) & 0xF);
        Assert.Equal(0x67UL, gdt[4] & 0xFFFF);
        Assert.Equal(0UL, gdt[5]);
        Assert.True(gdt.Length * 8 <= (int)MemoryLayout.BootGdtSize);
    }

    [Fact]
    public void GeneralRegistersCarryEntryAndZeroPage()
    {
        var r = VcpuBootState.ForLinux64Entry(entry: 0x100_0200, zeroPageAddress: 0x8000);

        Assert.Equal(0x100_0200UL, r.rip);
        Assert.Equal(0x8000UL, r.rsi);
        Assert.Equal(2UL, r.rflags); // IF clear
        Assert.Equal(0UL, r.rbx);
    }

    [Fact]
    public void LowMemoryStructuresDoNotOverlap()
    {
        (string Name, ulong Start, ulong Size)[] areas =
        [
            ("page tables", MemoryLayout.PageTableArea.Value, MemoryLayout.PageTableAreaSize),
            ("gdt", MemoryLayout.BootGdt.Value, MemoryLayout.BootGdtSize),
            ("start info + memmap", MemoryLayout.StartInfo.Value, MemoryLayout.PageSize),
            ("module list", MemoryLayout.ModuleList.Value, MemoryLayout.PageSize),
            ("zero page", MemoryLayout.ZeroPage.Value, MemoryLayout.ZeroPageSize),
            ("command line", MemoryLayout.CommandLine.Value, MemoryLayout.MaxCommandLineSize),
        ];

        foreach (var a in areas)
        {
            Assert.True(a.Start >= 0x1000, $"{a.Name} overlaps the IVT/BDA page");
            Assert.True(a.Start + a.Size <= MemoryLayout.ConventionalMemoryEnd, $"{a.Name} reaches the EBDA");
            Assert.Equal(0UL, a.Start % MemoryLayout.PageSize);
            foreach (var b in areas.Where(b => b.Name != a.Name))
            {
                Assert.False(a.Start < b.Start + b.Size && b.Start < a.Start + a.Size, $"{a.Name} overlaps {b.Name}");
            }
        }

        Assert.True(IdentityPageTables.Size <= MemoryLayout.PageTableAreaSize);
        Assert.Equal(new GuestAddress(0x9000), MemoryLayout.PageTableArea);
    }
}
