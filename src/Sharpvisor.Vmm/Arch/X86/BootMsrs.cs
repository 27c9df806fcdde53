using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>Model-specific registers every vCPU starts with, matching what firmware would leave behind.</summary>
public static class BootMsrs
{
    public const uint IA32_SYSENTER_CS = 0x174;
    public const uint IA32_SYSENTER_ESP = 0x175;
    public const uint IA32_SYSENTER_EIP = 0x176;
    public const uint IA32_MISC_ENABLE = 0x1A0;
    public const uint IA32_MTRR_DEF_TYPE = 0x2FF;
    public const uint MSR_STAR = 0xC000_0081;
    public const uint MSR_LSTAR = 0xC000_0082;
    public const uint MSR_CSTAR = 0xC000_0083;
    public const uint MSR_SYSCALL_MASK = 0xC000_0084;
    public const uint MSR_KERNEL_GS_BASE = 0xC000_0102;

    private const ulong MiscEnableFastStrings = 1;
    private const ulong MtrrEnableWriteBackDefault = (1UL << 11) | 6;

    public static kvm_msr_entry[] Entries() =>
    [
        new() { index = IA32_SYSENTER_CS },
        new() { index = IA32_SYSENTER_ESP },
        new() { index = IA32_SYSENTER_EIP },
        new() { index = MSR_STAR },
        new() { index = MSR_CSTAR },
        new() { index = MSR_KERNEL_GS_BASE },
        new() { index = MSR_SYSCALL_MASK },
        new() { index = MSR_LSTAR },
        // Fast string operations on, as every BIOS leaves them; Linux warns otherwise.
        new() { index = IA32_MISC_ENABLE, data = MiscEnableFastStrings },
        // All memory write-back unless an MTRR says otherwise; without it a guest may run uncached.
        new() { index = IA32_MTRR_DEF_TYPE, data = MtrrEnableWriteBackDefault },
    ];
}
