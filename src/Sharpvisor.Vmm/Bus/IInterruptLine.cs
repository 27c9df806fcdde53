namespace Sharpvisor.Vmm.Bus;

/// <summary>A wire from a device to the interrupt controller (an ISA IRQ pin of the in-kernel PIC/IOAPIC).</summary>
public interface IInterruptLine
{
    void SetLevel(bool asserted);
}
