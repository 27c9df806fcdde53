using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Fuzz;

/// <summary>Writes an input in the order a target's decoder reads it (for seeds).</summary>
internal sealed class SeedBuilder
{
    private readonly List<byte> _bytes = [];

    public SeedBuilder U8(int value)
    {
        _bytes.Add((byte)value);
        return this;
    }

    public SeedBuilder U16(int value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)value);
        return Bytes(bytes);
    }

    public SeedBuilder U32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return Bytes(bytes);
    }

    public SeedBuilder U64(ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return Bytes(bytes);
    }

    public SeedBuilder Bytes(ReadOnlySpan<byte> bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    /// <summary>A memory image prefixed with its 16-bit length, as the virtio targets read it.</summary>
    public SeedBuilder Image(SeedImage image)
    {
        var bytes = image.Trimmed();
        U16(bytes.Length);
        return Bytes(bytes);
    }

    public byte[] ToArray() => [.. _bytes];
}

/// <summary>Low guest RAM as a driver would leave it: descriptors, ring entries and buffer contents.</summary>
internal sealed class SeedImage
{
    private readonly byte[] _bytes = new byte[(int)FuzzGuest.LowSize];

    public void Descriptor(ulong table, int index, ulong address, uint length, DescriptorFlags flags = DescriptorFlags.None, int next = 0)
    {
        var at = (int)table + (16 * index);
        BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(at), address);
        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(at + 8), length);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(at + 12), (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(at + 14), (ushort)next);
    }

    public void Descriptor(SplitVirtqueueConfig queue, int index, ulong address, uint length, DescriptorFlags flags = DescriptorFlags.None, int next = 0) =>
        Descriptor(queue.DescriptorTable.Value, index, address, length, flags, next);

    /// <summary>Puts <paramref name="heads"/> in the available ring from the queue's start index on and publishes them.</summary>
    public void Publish(SplitVirtqueueConfig queue, params int[] heads)
    {
        var index = queue.NextAvailableIndex;
        foreach (var head in heads)
        {
            var slot = index & (queue.Size - 1);
            BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan((int)queue.AvailableRing.Value + 4 + (2 * slot)), (ushort)head);
            index++;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan((int)queue.AvailableRing.Value + 2), index);
    }

    public void Write(ulong address, ReadOnlySpan<byte> bytes) => bytes.CopyTo(_bytes.AsSpan((int)address));

    public void Write16(ulong address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan((int)address), value);

    public void Write32(ulong address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan((int)address), value);

    public void Write64(ulong address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan((int)address), value);

    /// <summary>The image up to its last non-zero byte: the rest is zero in guest RAM anyway.</summary>
    public byte[] Trimmed()
    {
        var end = _bytes.AsSpan().LastIndexOfAnyExcept((byte)0) + 1;
        return _bytes[..end];
    }
}
