using Sharpvisor.Kvm;

namespace Sharpvisor.Vmm.Memory;

/// <summary>One contiguous range of guest RAM and the host mapping behind it.</summary>
public sealed class GuestRegion(GuestAddress start, HostMemoryMapping mapping)
{
    public GuestAddress Start { get; } = start;

    public ulong Size => Mapping.Size;

    public GuestAddress End => Start + Size;

    public HostMemoryMapping Mapping { get; } = mapping;

    public bool Contains(GuestAddress address, ulong length) =>
        address >= Start && length <= Size && address.Value - Start.Value <= Size - length;
}
