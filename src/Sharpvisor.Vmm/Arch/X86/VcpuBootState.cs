using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// The register state a vCPU starts in. The boot vCPU enters a PVH kernel in 32-bit protected mode with
/// paging off and flat segments (the PVH ABI), or a bzImage at its 64-bit entry in long mode with identity-mapped
/// paging (the Linux 64-bit boot protocol); application processors keep KVM's reset state and wait
/// for INIT/SIPI from the guest, as on real hardware.
/// </summary>
public static class VcpuBootState
{
    // GDT selectors of the boot GDT written by BootGdt: 0x10 code, 0x18 data, 0x20 TSS.
    public const ushort CodeSelector = 0x10;
    public const ushort DataSelector = 0x18;
    public const ushort TssSelector = 0x20;

    private const ulong Cr0ProtectionEnable = 1UL << 0;
    private const ulong Cr0ExtensionType = 1UL << 4;
    private const ulong Cr0Paging = 1UL << 31;
    private const ulong Cr4PhysicalAddressExtension = 1UL << 5;
    private const ulong EferLongModeEnable = 1UL << 8;
    private const ulong EferLongModeActive = 1UL << 10;

    /// <summary>The 5 descriptors of the boot GDT, in the layout the PVH entry's segment registers describe.</summary>
    public static ulong[] BootGdt() =>
    [
        0,
        0,
        0x00CF_9B00_0000_FFFF, // 0x10: 32-bit code, base 0, limit 4 GiB, execute/read, accessed
        0x00CF_9300_0000_FFFF, // 0x18: 32-bit data, base 0, limit 4 GiB, read/write, accessed
        0x0000_8B00_0000_0067, // 0x20: 32-bit busy TSS, base 0, limit 0x67 (VMX entry requires a usable TR)
    ];

    /// <summary>
    /// The boot GDT for the Linux 64-bit entry: the same selectors, but 0x10 is 64-bit code (__BOOT_CS) and 0x18
    /// flat data (__BOOT_DS), as boot.rst requires; the TSS descriptor at 0x20 is 16 bytes long in long mode.
    /// </summary>
    public static ulong[] LongModeGdt() =>
    [
        0,
        0,
        0x00AF_9B00_0000_FFFF, // 0x10: 64-bit code (L=1, D=0), base 0, limit 4 GiB, execute/read, accessed
        0x00CF_9300_0000_FFFF, // 0x18: data, base 0, limit 4 GiB, read/write, accessed
        0x0000_8B00_0000_0067, // 0x20: 64-bit busy TSS, base 0, limit 0x67 (VMX entry requires a usable TR)
        0,                     // 0x28: upper half of the TSS descriptor (base bits 63:32)
    ];

    /// <summary>Segment and control registers for the PVH 32-bit entry, starting from the vCPU's reset state.</summary>
    public static kvm_sregs ForPvhEntry(kvm_sregs reset, ulong gdtAddress)
    {
        var sregs = WithFlatSegments(reset, FlatSegment(CodeSelector, type: 0xB), gdtAddress, BootGdt().Length);
        // Caches on (CD and NW clear), protection on, paging off: what the PVH ABI promises.
        sregs.cr0 = Cr0ProtectionEnable | Cr0ExtensionType;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
        return sregs;
    }

    /// <summary>
    /// Segment and control registers for the Linux 64-bit entry: long mode with paging through the identity map
    /// at <paramref name="pageTableRoot"/> (the PML4), CS = __BOOT_CS with L=1, the other segments __BOOT_DS.
    /// <paramref name="gdtAddress"/> must hold <see cref="LongModeGdt"/>.
    /// </summary>
    public static kvm_sregs ForLinux64Entry(kvm_sregs reset, ulong gdtAddress, ulong pageTableRoot)
    {
        var code = FlatSegment(CodeSelector, type: 0xB) with { l = 1, db = 0 };
        var sregs = WithFlatSegments(reset, code, gdtAddress, LongModeGdt().Length);
        sregs.cr0 = Cr0ProtectionEnable | Cr0ExtensionType | Cr0Paging;
        sregs.cr3 = pageTableRoot;
        sregs.cr4 = Cr4PhysicalAddressExtension;
        sregs.efer = EferLongModeEnable | EferLongModeActive;
        return sregs;
    }

    /// <summary>Both entries: the given code segment, flat data everywhere else, the boot TSS, the GDT, no IDT.</summary>
    private static kvm_sregs WithFlatSegments(kvm_sregs reset, kvm_segment code, ulong gdtAddress, int gdtEntries)
    {
        var sregs = reset;
        var data = FlatSegment(DataSelector, type: 0x3);
        sregs.cs = code;
        sregs.ds = data;
        sregs.es = data;
        sregs.fs = data;
        sregs.gs = data;
        sregs.ss = data;
        sregs.tr = new kvm_segment { @base = 0, limit = 0x67, selector = TssSelector, type = 0xB, present = 1 };
        sregs.gdt = new kvm_dtable { @base = gdtAddress, limit = (ushort)((gdtEntries * 8) - 1) };
        sregs.idt = new kvm_dtable { @base = 0, limit = 0 };
        return sregs;
    }

    /// <summary>General registers for the Linux 64-bit entry: RSI carries the zero page (boot_params) address.</summary>
    public static kvm_regs ForLinux64Entry(ulong entry, ulong zeroPageAddress) => new()
    {
        rip = entry,
        rsi = zeroPageAddress,
        rflags = 0x2, // bit 1 is reserved and always set; interrupts off, as the protocol requires
    };

    /// <summary>General registers for the PVH entry: EBX carries the hvm_start_info address.</summary>
    public static kvm_regs ForPvhEntry(ulong entry, ulong startInfoAddress) => new()
    {
        rip = entry,
        rbx = startInfoAddress,
        rflags = 0x2, // bit 1 is reserved and always set; interrupts off
    };

    /// <summary>Initial FPU state as after FNINIT, with the default MXCSR.</summary>
    public static kvm_fpu InitialFpu() => new() { fcw = 0x37F, mxcsr = 0x1F80 };

    private static kvm_segment FlatSegment(ushort selector, byte type) => new()
    {
        @base = 0,
        limit = 0xFFFF_FFFF,
        selector = selector,
        type = type,
        present = 1,
        dpl = 0,
        db = 1,
        s = 1,
        l = 0,
        g = 1,
    };
}
