using Sharpvisor.Kvm;

namespace Sharpvisor.Vmm.Bus;

/// <summary>
/// Turns guest writes to an MMIO address into eventfd signals inside the kernel (KVM ioeventfd), so a notify
/// write costs the vCPU no trip to user space and the device thread wakes directly. Writes of other sizes still
/// reach the bus as ordinary MMIO exits.
/// </summary>
public interface IDoorbellRegistry
{
    void Register(EventFd doorbell, ulong address, uint length);

    void Unregister(EventFd doorbell, ulong address, uint length);
}
