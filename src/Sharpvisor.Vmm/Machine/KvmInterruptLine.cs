using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Machine;

/// <summary>An ISA interrupt pin of the in-kernel PIC/IOAPIC, driven with KVM_IRQ_LINE.</summary>
public sealed class KvmInterruptLine(KvmVm vm, uint gsi) : IInterruptLine
{
    public uint Gsi { get; } = gsi;

    public void SetLevel(bool asserted) => vm.SetIrqLine(Gsi, asserted);
}
