namespace Sharpvisor.Vmm.Devices.Interrupts;

/// <summary>
/// Where the user-space I/O APIC sends interrupts: as MSI messages to the in-kernel local APICs
/// (KVM_SIGNAL_MSI), plus the routes KVM needs to report EOIs of level-triggered vectors.
/// </summary>
public interface IMsiSink
{
    void SignalMsi(ulong address, uint data);

    /// <summary>Declares the level-triggered pins as GSI→MSI routes, so KVM exits with KVM_EXIT_IOAPIC_EOI for their vectors.</summary>
    void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes);
}
