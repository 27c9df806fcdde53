using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// Wires the local APIC's LINT pins as a PC's firmware does (virtual-wire mode): on the boot vCPU LINT0
/// receives the 8259 PIC's output (ExtINT), and LINT1 delivers NMIs on every vCPU.
/// </summary>
public static class LocalApicSetup
{
    public const int LvtLint0Offset = 0x350;
    public const int LvtLint1Offset = 0x360;
    public const uint DeliveryModeMask = 0x700;
    public const uint DeliveryModeNmi = 0x400;
    public const uint DeliveryModeExtInt = 0x700;
    public const uint Masked = 1u << 16;

    public static kvm_lapic_state Configure(kvm_lapic_state state, bool bootProcessor)
    {
        var lint0 = state.GetRegister(LvtLint0Offset) & ~DeliveryModeMask;
        // Only one CPU may take the PIC's ExtINT; a second would see spurious interrupts.
        lint0 = bootProcessor ? (lint0 & ~Masked) | DeliveryModeExtInt : lint0 | Masked;
        state.SetRegister(LvtLint0Offset, lint0);
        state.SetRegister(LvtLint1Offset, (state.GetRegister(LvtLint1Offset) & ~(DeliveryModeMask | Masked)) | DeliveryModeNmi);
        return state;
    }
}
