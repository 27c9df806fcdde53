using System.Runtime.InteropServices;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// One available buffer, walked and checked: the device-readable segments first, then the device-writable ones.
/// Every segment was proved to lie in guest RAM when the chain was walked, so the copy helpers cannot leave it.
/// The bytes behind the segments still belong to the guest and may change at any moment: copy, then validate.
/// A device thread reuses one chain for every pop (<see cref="SplitVirtqueue.TryPop(GuestMemory, DescriptorChain)"/>),
/// so serving a buffer allocates nothing; such a chain is valid until the next pop into it.
/// </summary>
public sealed class DescriptorChain
{
    /// <summary>Size of struct virtq_desc.</summary>
    internal const int DescriptorSize = 16;

    /// <summary>Capacity kept between pops: a hostile chain may grow the list far past it, and then it is let go.</summary>
    private const int RetainedSegments = 64;

    /// <summary>Readable segments, then writable ones (a readable descriptor after a writable one is refused).</summary>
    private GuestSegment[] _segments = new GuestSegment[4];
    private int _count;
    private int _readableCount;

    /// <summary>The descriptor index the driver put in the available ring; the device hands it back in <see cref="SplitVirtqueue.Push"/>.</summary>
    public ushort HeadIndex { get; private set; }

    /// <summary>Device-readable segments in chain order. A zero-length descriptor contributes none.</summary>
    public ReadOnlySpan<GuestSegment> Readable => _segments.AsSpan(0, _readableCount);

    /// <summary>Device-writable segments in chain order. A zero-length descriptor contributes none.</summary>
    public ReadOnlySpan<GuestSegment> Writable => _segments.AsSpan(_readableCount, _count - _readableCount);

    public uint ReadableLength { get; private set; }

    public uint WritableLength { get; private set; }

    /// <summary>Descriptors walked, counting an indirect descriptor and each entry of its table.</summary>
    public int DescriptorCount { get; private set; }

    /// <summary>Copies readable bytes starting <paramref name="offset"/> bytes into the readable part; returns how many were copied.</summary>
    public int CopyFromReadable(GuestMemory memory, Span<byte> destination, uint offset = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var copied = 0;
        var cursor = new SegmentCursor(Readable, offset, (ulong)destination.Length);
        while (cursor.MoveNext(out var address, out var length))
        {
            memory.Read(address, destination.Slice(copied, length));
            copied += length;
        }

        return copied;
    }

    /// <summary>Copies bytes into the writable part starting <paramref name="offset"/> bytes in; returns how many fit.</summary>
    public int CopyToWritable(GuestMemory memory, ReadOnlySpan<byte> source, uint offset = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var copied = 0;
        var cursor = new SegmentCursor(Writable, offset, (ulong)source.Length);
        while (cursor.MoveNext(out var address, out var length))
        {
            memory.Write(address, source.Slice(copied, length));
            copied += length;
        }

        return copied;
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length readable bytes or throws <see cref="VirtqueueException"/>.</summary>
    public void ReadExactly(GuestMemory memory, Span<byte> destination, uint offset = 0)
    {
        if (CopyFromReadable(memory, destination, offset) != destination.Length)
        {
            throw new VirtqueueException($"chain {HeadIndex}: wanted {destination.Length} readable bytes at offset {offset}, it has {ReadableLength}");
        }
    }

    /// <summary>
    /// Walks the chain starting at <paramref name="headIndex"/> of the descriptor table into this object, replacing
    /// what it held. Each descriptor is read once into a local copy; nothing is read outside RAM because every table is
    /// checked before its first read. After a throw the chain is empty.
    /// </summary>
    internal void Fill(GuestMemory memory, GuestAddress table, ushort queueSize, ushort headIndex, bool indirectAllowed)
    {
        Clear();
        try
        {
            Walk(memory, table, queueSize, headIndex, indirectAllowed);
        }
        catch (VirtqueueException)
        {
            Clear();
            throw;
        }
    }

    private void Clear()
    {
        if (_segments.Length > RetainedSegments)
        {
            _segments = new GuestSegment[4];
        }

        _count = 0;
        _readableCount = 0;
        HeadIndex = 0;
        ReadableLength = 0;
        WritableLength = 0;
        DescriptorCount = 0;
    }

    private void Walk(GuestMemory memory, GuestAddress table, ushort queueSize, ushort headIndex, bool indirectAllowed)
    {
        if (headIndex >= queueSize)
        {
            throw new VirtqueueException($"head index {headIndex} is not below the queue size {queueSize}");
        }

        ulong readableLength = 0;
        ulong writableLength = 0;
        var tableEntries = (uint)queueSize;
        uint index = headIndex;
        var walkedInTable = 0u;
        var inIndirect = false;
        var sawWritable = false;
        var total = 0;

        while (true)
        {
            // A chain visiting more descriptors than its table holds must have visited one twice: a loop.
            if (++walkedInTable > tableEntries)
            {
                throw new VirtqueueException(inIndirect
                    ? $"chain {headIndex}: indirect chain longer than its table of {tableEntries} descriptors (a loop)"
                    : $"chain {headIndex}: chain longer than the queue size {queueSize} (a loop)");
            }

            total++;
            var descriptor = memory.Read<Descriptor>(table + ((ulong)index * DescriptorSize));
            var flags = (DescriptorFlags)descriptor.flags;

            if ((flags & DescriptorFlags.Indirect) != 0)
            {
                if (!indirectAllowed)
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect descriptor {index} but INDIRECT_DESC was not negotiated");
                }

                if (inIndirect)
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect descriptor {index} inside an indirect table");
                }

                if ((flags & DescriptorFlags.Next) != 0)
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect descriptor {index} also has NEXT set");
                }

                if (descriptor.len == 0 || descriptor.len % DescriptorSize != 0)
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect table length {descriptor.len} is not a positive multiple of {DescriptorSize}");
                }

                // The chain lives in the table, and no chain may be longer than the queue (virtio 1.2, 2.7.5.3.1):
                // this also bounds what one request can cost the device.
                var entries = descriptor.len / DescriptorSize;
                if (entries > queueSize)
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect table of {entries} descriptors is longer than the queue size {queueSize}");
                }

                var indirectTable = new GuestAddress(descriptor.addr);
                if (descriptor.addr % DescriptorSize != 0 || !memory.IsValid(indirectTable, descriptor.len))
                {
                    throw new VirtqueueException($"chain {headIndex}: indirect table [{indirectTable}, +0x{descriptor.len:x}) is misaligned or not inside guest RAM");
                }

                // The indirect descriptor's own WRITE flag means nothing (the device must ignore it).
                table = indirectTable;
                tableEntries = entries;
                index = 0;
                walkedInTable = 0;
                inIndirect = true;
                continue;
            }

            var isWrite = (flags & DescriptorFlags.Write) != 0;
            if (isWrite)
            {
                sawWritable = true;
                writableLength += descriptor.len;
            }
            else
            {
                if (sawWritable)
                {
                    throw new VirtqueueException($"chain {headIndex}: readable descriptor {index} after a writable one");
                }

                readableLength += descriptor.len;
            }

            if (readableLength + writableLength > uint.MaxValue)
            {
                throw new VirtqueueException($"chain {headIndex}: total buffer length exceeds 4 GiB");
            }

            if (descriptor.len != 0)
            {
                AddSegments(memory, new GuestAddress(descriptor.addr), descriptor.len, headIndex, index);
            }

            if (!sawWritable)
            {
                _readableCount = _count;
            }

            if ((flags & DescriptorFlags.Next) == 0)
            {
                break;
            }

            index = descriptor.next;
            if (index >= tableEntries)
            {
                throw new VirtqueueException($"chain {headIndex}: next index {index} is outside a table of {tableEntries} descriptors");
            }
        }

        HeadIndex = headIndex;
        ReadableLength = (uint)readableLength;
        WritableLength = (uint)writableLength;
        DescriptorCount = total;
    }

    /// <summary>Splits a buffer at region boundaries so each segment is one GuestMemory access; refuses any byte outside RAM.</summary>
    private void AddSegments(GuestMemory memory, GuestAddress address, uint length, ushort headIndex, uint index)
    {
        if (address.Value > ulong.MaxValue - length)
        {
            throw new VirtqueueException($"chain {headIndex}: descriptor {index} buffer {address}+0x{length:x} wraps past the end of the address space");
        }

        var start = address.Value;
        ulong left = length;
        while (left > 0)
        {
            var found = memory.RegionContaining(new GuestAddress(start));
            if (found is null)
            {
                throw new VirtqueueException($"chain {headIndex}: descriptor {index} buffer [{address}, +0x{length:x}) is not inside guest RAM");
            }

            var piece = Math.Min(left, found.End.Value - start);
            if (_count == _segments.Length)
            {
                // Bounded: a chain has at most 2 x the queue size descriptors, each split at the few region edges.
                Array.Resize(ref _segments, _count * 2);
            }

            _segments[_count++] = new GuestSegment(new GuestAddress(start), (uint)piece);
            start += piece;
            left -= piece;
        }
    }

    /// <summary>struct virtq_desc, little-endian like the x86 host, read in one piece so each field is seen once.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    internal struct Descriptor
    {
        public ulong addr;
        public uint len;
        public ushort flags;
        public ushort next;
    }
}
