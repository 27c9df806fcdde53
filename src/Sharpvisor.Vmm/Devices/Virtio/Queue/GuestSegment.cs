using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>A piece of a guest buffer that lies inside one region of guest RAM (checked when the chain was walked).</summary>
public readonly record struct GuestSegment(GuestAddress Address, uint Length);
