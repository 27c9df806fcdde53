using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>Feature bits the transport owns (virtio 1.2, section 6); devices offer their own bits below 24.</summary>
public static class VirtioFeatures
{
    /// <summary>VIRTIO_F_VERSION_1: a modern (1.x) device; without it a driver would expect the legacy layout.</summary>
    public const ulong Version1 = 1UL << 32;

    /// <summary>Every device offers these: version 1, indirect descriptors, event index.</summary>
    public const ulong Common = Version1 | VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex;
}

/// <summary>The device status register (virtio 1.2, 2.1).</summary>
[Flags]
public enum VirtioStatus : byte
{
    None = 0,
    Acknowledge = 1,
    Driver = 2,
    DriverOk = 4,
    FeaturesOk = 8,
    NeedsReset = 0x40,
    Failed = 0x80,
}
