using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Machine;

/// <summary>Doorbells as KVM ioeventfds on MMIO addresses.</summary>
internal sealed class KvmDoorbellRegistry(KvmVm vm) : IDoorbellRegistry
{
    public void Register(EventFd doorbell, ulong address, uint length) => vm.AssignIoeventfd(doorbell, address, length, pio: false);

    public void Unregister(EventFd doorbell, ulong address, uint length) => vm.AssignIoeventfd(doorbell, address, length, pio: false, deassign: true);
}
