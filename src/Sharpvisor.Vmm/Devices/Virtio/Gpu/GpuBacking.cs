using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// A resource's backing store: the guest pages ATTACH_BACKING listed, in order, each checked to lie in one region of
/// guest RAM when attached. Offsets into it are 64-bit and bounded by <see cref="Length"/>.
/// </summary>
internal sealed class GpuBacking
{
    /// <summary>Entries one attach may list: a 4 GiB resource in 4 KiB pages needs a million; we allow 16384 pieces (QEMU's bound).</summary>
    public const int MaxEntries = 16384;

    private readonly (GuestAddress Address, uint Length)[] _entries;
    private readonly ulong[] _starts; // offset of each entry in the backing, for a binary search

    public GpuBacking((GuestAddress Address, uint Length)[] entries)
    {
        _entries = entries;
        _starts = new ulong[entries.Length];
        ulong offset = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            _starts[i] = offset;
            offset += entries[i].Length;
        }

        Length = offset;
    }

    public ulong Length { get; }

    public IReadOnlyList<(GuestAddress Address, uint Length)> Entries => _entries;

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/>; the caller checked the range.</summary>
    public void Read(GuestMemory memory, ulong offset, Span<byte> destination)
    {
        var index = Array.BinarySearch(_starts, offset);
        if (index < 0)
        {
            index = ~index - 1;
        }

        while (!destination.IsEmpty && index < _entries.Length)
        {
            var (address, length) = _entries[index];
            var within = offset - _starts[index];
            var piece = (int)Math.Min((ulong)destination.Length, length - within);
            if (piece > 0)
            {
                memory.Read(address + within, destination[..piece]);
                destination = destination[piece..];
                offset += (ulong)piece;
            }

            index++;
        }
    }
}
