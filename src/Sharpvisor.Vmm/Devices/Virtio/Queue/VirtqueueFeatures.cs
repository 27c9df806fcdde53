namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>Feature bits and ring flags of the split virtqueue (virtio 1.2, sections 2.7 and 6).</summary>
public static class VirtqueueFeatures
{
    /// <summary>VIRTIO_RING_F_INDIRECT_DESC: a descriptor may point to a table of descriptors.</summary>
    public const int IndirectDescriptorsBit = 28;

    /// <summary>VIRTIO_RING_F_EVENT_IDX: used_event / avail_event replace the NO_INTERRUPT / NO_NOTIFY flags.</summary>
    public const int EventIndexBit = 29;

    public const ulong IndirectDescriptors = 1UL << IndirectDescriptorsBit;

    public const ulong EventIndex = 1UL << EventIndexBit;

    /// <summary>The largest queue size a split virtqueue may have.</summary>
    public const int MaxQueueSize = 32768;
}

/// <summary>Flags of a split virtqueue descriptor (struct virtq_desc.flags).</summary>
[Flags]
public enum DescriptorFlags : ushort
{
    None = 0,

    /// <summary>VIRTQ_DESC_F_NEXT: the chain continues at the descriptor named by next.</summary>
    Next = 1,

    /// <summary>VIRTQ_DESC_F_WRITE: the buffer is device-writable (otherwise device-readable).</summary>
    Write = 2,

    /// <summary>VIRTQ_DESC_F_INDIRECT: the buffer is a table of descriptors.</summary>
    Indirect = 4,
}
