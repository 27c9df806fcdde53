using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class VcpuBootStateTests
{
    private const ulong GdtAddress = 0x500;
    private const ulong FourGiBLimit = 0xFFFF_FFFF;

    /// <summary>A descriptor taken apart by the bit layout of the Intel SDM (vol. 3, 3.4.5), independently of the code under test.</summary>
    private readonly record struct Descriptor(ulong Base, ulong Limit, int Type, int S, int Dpl, int Present, int Avl, int L, int Db, int G)
    {
        public static Descriptor Decode(ulong d)
        {
            var g = (int)((d >> 55) & 1);
            var rawLimit = (d & 0xFFFF) | (((d >> 48) & 0xF) << 16);
            return new Descriptor(
                Base: ((d >> 16) & 0xFF_FFFF) | (((d >> 56) & 0xFF) << 24),
                Limit: g == 1 ? (rawLimit << 12) | 0xFFF : rawLimit,
                Type: (int)((d >> 40) & 0xF),
                S: (int)((d >> 44) & 1),
                Dpl: (int)((d >> 45) & 3),
                Present: (int)((d >> 47) & 1),
                Avl: (int)((d >> 52) & 1),
                L: (int)((d >> 53) & 1),
                Db: (int)((d >> 54) & 1),
                G: g);
        }

        public static Descriptor Of(kvm_segment s) =>
            new(s.@base, s.limit, s.type, s.s, s.dpl, s.present, s.avl, s.l, s.db, s.g);
    }

    private static kvm_sregs Entry() => VcpuBootState.ForPvhEntry(VcpuResetState.Sregs(), GdtAddress);

    [Fact]
    public void ControlRegistersAreProtectedModeWithoutPaging()
    {
        var s = Entry();

        Assert.Equal(1UL, s.cr0 & 1); // PE
        Assert.Equal(0UL, s.cr0 & (1UL << 31)); // PG
        Assert.Equal(0UL, s.cr0 & (3UL << 29)); // CD and NW: caches on
        Assert.Equal(0UL, s.cr4 & (1UL << 5)); // PAE
        Assert.Equal(0UL, s.efer & ((1UL << 8) | (1UL << 10))); // LME, LMA
    }

    [Fact]
    public void ResetStateTheAbiDoesNotDefineIsKept()
    {
        Assert.Equal(0xFEE0_0900UL, Entry().apic_base);
    }

    [Fact]
    public void CodeAndDataSegmentsAreFlat32BitWithBaseZero()
    {
        var s = Entry();

        foreach (var (name, seg) in new[] { ("cs", s.cs), ("ds", s.ds), ("es", s.es), ("ss", s.ss), ("fs", s.fs), ("gs", s.gs) })
        {
            Assert.True(seg.@base == 0, name);
            Assert.True(seg.limit == FourGiBLimit, name);
            Assert.True(seg.present == 1 && seg.s == 1 && seg.dpl == 0, name);
            Assert.True(seg.db == 1 && seg.l == 0 && seg.g == 1, name);
            Assert.True(seg.unusable == 0, name);
        }

        Assert.Equal(0x8, s.cs.type & 0x8); // code
        Assert.Equal(0x2, s.cs.type & 0x2); // readable
        foreach (var data in new[] { s.ds, s.es, s.ss })
        {
            Assert.Equal(0x0, data.type & 0x8); // data
            Assert.Equal(0x2, data.type & 0x2); // writable
        }

        Assert.Equal(s.ds.selector, s.es.selector);
        Assert.Equal(s.ds.selector, s.ss.selector);
        Assert.NotEqual(s.cs.selector, s.ds.selector);
    }

    [Fact]
    public void GdtLimitCoversEveryLoadedSelector()
    {
        var s = Entry();
        var gdt = VcpuBootState.BootGdt();

        Assert.Equal(GdtAddress, s.gdt.@base);
        Assert.Equal((gdt.Length * 8) - 1, s.gdt.limit);
        Assert.Equal(0UL, gdt[0]); // the null descriptor
        foreach (var seg in new[] { s.cs, s.ds, s.es, s.fs, s.gs, s.ss, s.tr })
        {
            Assert.Equal(0, seg.selector & 0x7); // GDT (TI = 0), RPL 0
            Assert.True(seg.selector + 7 <= s.gdt.limit, $"selector 0x{seg.selector:x} beyond GDT limit 0x{s.gdt.limit:x}");
        }
    }

    [Fact]
    public void EachGdtDescriptorDecodesToWhatItsSegmentRegisterClaims()
    {
        var s = Entry();
        var gdt = VcpuBootState.BootGdt();

        foreach (var (name, seg) in new[] { ("cs", s.cs), ("ds", s.ds), ("es", s.es), ("fs", s.fs), ("gs", s.gs), ("ss", s.ss), ("tr", s.tr) })
        {
            var decoded = Descriptor.Decode(gdt[seg.selector >> 3]);
            var claimed = Descriptor.Of(seg);
            Assert.True(decoded == claimed, $"{name}: GDT says {decoded}, kvm_segment says {claimed}");
        }

        var code = Descriptor.Decode(gdt[VcpuBootState.CodeSelector >> 3]);
        Assert.Equal(new Descriptor(Base: 0, Limit: FourGiBLimit, Type: 0xB, S: 1, Dpl: 0, Present: 1, Avl: 0, L: 0, Db: 1, G: 1), code);
        var data = Descriptor.Decode(gdt[VcpuBootState.DataSelector >> 3]);
        Assert.Equal(new Descriptor(Base: 0, Limit: FourGiBLimit, Type: 0x3, S: 1, Dpl: 0, Present: 1, Avl: 0, L: 0, Db: 1, G: 1), data);
        var tss = Descriptor.Decode(gdt[VcpuBootState.TssSelector >> 3]);
        Assert.Equal(0xB, tss.Type); // busy 32-bit TSS, as a loaded TR must be
        Assert.Equal(0, tss.S);
        Assert.True(tss.Limit >= 0x67, "a 32-bit TSS is at least 104 bytes");
    }

    [Fact]
    public void GeneralRegistersCarryTheEntryAndStartInfoWithInterruptsOff()
    {
        var r = VcpuBootState.ForPvhEntry(entry: 0x100_0abc, startInfoAddress: 0x6000);

        Assert.Equal(0x100_0abcUL, r.rip);
        Assert.Equal(0x6000UL, r.rbx);
        Assert.Equal(0UL, r.rflags & (1UL << 9)); // IF
        Assert.Equal(0UL, r.rflags & (1UL << 8)); // TF
        Assert.Equal(0UL, r.rflags & (1UL << 17)); // VM
        Assert.Equal(2UL, r.rflags & 2); // reserved, always 1
    }

    [Fact]
    public void InitialFpuIsAsAfterFninit()
    {
        var fpu = VcpuBootState.InitialFpu();
        Assert.Equal(0x37F, fpu.fcw);
        Assert.Equal(0x1F80U, fpu.mxcsr);
    }
}
