using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>Backing stores: attaching the guest's pages to a resource, detaching them, copying from them.</summary>
public sealed partial class VirtioGpu
{
    /// <summary>Entries read from the chain at a time.</summary>
    private const int EntryBatch = 256;

    /// <summary>
    /// Backing entries all resources may hold together: bounds the host memory they take and the saved state
    /// (12 bytes each, 3 MiB at most), which a snapshot must fit in one section.
    /// </summary>
    public const int MaxBackingEntries = 256 * 1024;

    private readonly byte[] _entries = new byte[EntryBatch * GpuProtocol.MemEntrySize];
    private int _backingEntries;

    private uint Attach(uint resourceId, uint count, DescriptorChain chain, GuestMemory memory)
    {
        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        const uint first = GpuProtocol.HeaderSize + 8;
        if (resource.Backing is not null || count is 0 or > GpuBacking.MaxEntries
            || chain.ReadableLength < first + ((ulong)count * GpuProtocol.MemEntrySize))
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        var entries = new List<(GuestAddress, uint)>((int)count);
        for (uint done = 0; done < count;)
        {
            var batch = (int)Math.Min(count - done, EntryBatch);
            var bytes = _entries.AsSpan(0, batch * GpuProtocol.MemEntrySize);
            chain.ReadExactly(memory, bytes, first + (done * GpuProtocol.MemEntrySize));
            for (var i = 0; i < batch; i++)
            {
                var address = new GuestAddress(BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * GpuProtocol.MemEntrySize)..]));
                var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[((i * GpuProtocol.MemEntrySize) + 8)..]);
                if (length == 0)
                {
                    continue;
                }

                if (!memory.IsValid(address, length))
                {
                    return GpuProtocol.ErrUnspecified; // not RAM (or across two regions): the whole attach is refused
                }

                entries.Add((address, length));
            }

            done += (uint)batch;
        }

        if (_backingEntries + entries.Count > MaxBackingEntries)
        {
            return GpuProtocol.ErrOutOfMemory;
        }

        resource.Backing = new GpuBacking([.. entries]);
        _backingEntries += entries.Count;
        return GpuProtocol.OkNoData;
    }

    private uint Detach(uint resourceId)
    {
        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (resource.Backing is null)
        {
            return GpuProtocol.ErrUnspecified;
        }

        _backingEntries -= resource.Backing.Entries.Count;
        resource.Backing = null;
        return GpuProtocol.OkNoData;
    }

    /// <summary>
    /// TRANSFER_TO_HOST_2D: row r of <paramref name="rect"/> comes from the backing at <paramref name="offset"/> plus r
    /// strides (the resource's), as Linux lays its dumb buffers out. Checked whole before the first byte moves.
    /// </summary>
    private uint Transfer(GpuRect rect, ulong offset, uint resourceId, GuestMemory memory)
    {
        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (resource.Backing is not { } backing)
        {
            return GpuProtocol.ErrUnspecified;
        }

        var rowBytes = (ulong)rect.Width * GpuFormats.BytesPerPixel;
        var stride = (ulong)resource.Stride;
        if (!resource.Contains(rect) || offset > backing.Length || backing.Length - offset < ((rect.Height - 1UL) * stride) + rowBytes)
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        for (var row = 0UL; row < rect.Height; row++)
        {
            var target = ((rect.Y + row) * stride) + ((ulong)rect.X * GpuFormats.BytesPerPixel);
            backing.Read(memory, offset + (row * stride), resource.Pixels.AsSpan((int)target, (int)rowBytes));
        }

        return GpuProtocol.OkNoData;
    }
}
