using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Interrupts;

namespace Sharpvisor.Vmm.Machine;

/// <summary>Delivers the user-space I/O APIC's messages to the in-kernel local APICs.</summary>
internal sealed class KvmMsiSink(KvmVm vm) : IMsiSink
{
    public void SignalMsi(ulong address, uint data) => vm.SignalMsi(address, data);

    public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes) =>
        vm.SetMsiRoutes([.. routes]);
}
