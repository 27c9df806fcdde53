using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// What the driver (through the transport) told the device about one split virtqueue. Every field is guest
/// input: <see cref="SplitVirtqueue.Validate"/> checks it before a queue is built.
/// </summary>
/// <param name="Size">Queue size: a power of two, 1..32768.</param>
/// <param name="DescriptorTable">Guest address of the descriptor table (16 bytes per entry, 16-byte aligned).</param>
/// <param name="AvailableRing">Guest address of the driver (available) ring (2-byte aligned).</param>
/// <param name="UsedRing">Guest address of the device (used) ring (4-byte aligned).</param>
/// <param name="Features">The negotiated feature bits; the queue looks only at INDIRECT_DESC and EVENT_IDX.</param>
/// <param name="NextAvailableIndex">The avail index the device reads next: 0 after reset, another value when restoring a snapshot.</param>
/// <param name="NextUsedIndex">The used index the device publishes next: 0 after reset, another value when restoring a snapshot.</param>
public readonly record struct SplitVirtqueueConfig(
    ushort Size,
    GuestAddress DescriptorTable,
    GuestAddress AvailableRing,
    GuestAddress UsedRing,
    ulong Features = 0,
    ushort NextAvailableIndex = 0,
    ushort NextUsedIndex = 0)
{
    public bool IndirectDescriptors => (Features & VirtqueueFeatures.IndirectDescriptors) != 0;

    public bool EventIndex => (Features & VirtqueueFeatures.EventIndex) != 0;
}
