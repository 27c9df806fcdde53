using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// Wires the local APIC's LINT pins as firmware does on a machine without an 8259 PIC (every interrupt comes
/// through the I/O APIC): LINT0 masked, LINT1 delivering NMIs, on every vCPU.
/// </summary>
public static class LocalApicSetup
{
    public const int LvtLint0Offset = 0x350;
    public const int LvtLint1Offset = 0x360;
    public const uint DeliveryModeMask = 0x700;
    public const uint DeliveryModeNmi = 0x400;
    public const uint Masked = 1u << 16;

    public static kvm_lapic_state Configure(kvm_lapic_state state)
    {
        // No PIC, so nothing may arrive as ExtINT: an unmasked LINT0 would only invite spurious interrupts.
        state.SetRegister(LvtLint0Offset, (state.GetRegister(LvtLint0Offset) & ~DeliveryModeMask) | Masked);
        state.SetRegister(LvtLint1Offset, (state.GetRegister(LvtLint1Offset) & ~(DeliveryModeMask | Masked)) | DeliveryModeNmi);
        return state;
    }
}
