using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// One enabled queue as a device serves it: the ring, the doorbell the driver rings (an eventfd KVM signals on the
/// notify write, so a vCPU never waits for the device) and the used-buffer interrupt.
/// </summary>
public sealed class VirtioQueue(int index, SplitVirtqueue ring, EventFd doorbell, GuestMemory memory, IVirtioDeviceEvents events)
{
    public int Index { get; } = index;

    public SplitVirtqueue Ring { get; } = ring;

    /// <summary>Signalled on every driver notification for this queue.</summary>
    public EventFd Doorbell { get; } = doorbell;

    public GuestMemory Memory { get; } = memory;

    /// <summary>Interrupts the driver if it asked to hear about the chains pushed since the last call.</summary>
    public void NotifyIfNeeded()
    {
        if (Ring.NeedsNotification(Memory))
        {
            events.SignalQueue(Index);
        }
    }
}
