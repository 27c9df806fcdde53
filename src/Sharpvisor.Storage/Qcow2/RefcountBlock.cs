using System.Buffers.Binary;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// One refcount block: a cluster of 2^order-bit refcounts. Widths under a byte pack from the byte's low bits up (as
/// qemu does); wider ones are big-endian.
/// </summary>
internal sealed class RefcountBlock(byte[] data, int order)
{
    public byte[] Data { get; } = data;

    public int Bits => 1 << order;

    public ulong MaxValue => Bits == 64 ? ulong.MaxValue : (1UL << Bits) - 1;

    public int Entries => Data.Length * 8 / Bits;

    public ulong Get(int index)
    {
        var bits = Bits;
        return bits switch
        {
            8 => Data[index],
            16 => BinaryPrimitives.ReadUInt16BigEndian(Data.AsSpan(index * 2)),
            32 => BinaryPrimitives.ReadUInt32BigEndian(Data.AsSpan(index * 4)),
            64 => BinaryPrimitives.ReadUInt64BigEndian(Data.AsSpan(index * 8)),
            _ => (ulong)((Data[index * bits / 8] >> (index * bits % 8)) & ((1 << bits) - 1)),
        };
    }

    /// <summary>Sets entry <paramref name="index"/>; returns the byte range that changed, for a write-through.</summary>
    public (int Offset, int Length) Set(int index, ulong value)
    {
        var bits = Bits;
        switch (bits)
        {
            case 8:
                Data[index] = (byte)value;
                return (index, 1);
            case 16:
                BinaryPrimitives.WriteUInt16BigEndian(Data.AsSpan(index * 2), (ushort)value);
                return (index * 2, 2);
            case 32:
                BinaryPrimitives.WriteUInt32BigEndian(Data.AsSpan(index * 4), (uint)value);
                return (index * 4, 4);
            case 64:
                BinaryPrimitives.WriteUInt64BigEndian(Data.AsSpan(index * 8), value);
                return (index * 8, 8);
            default:
                var at = index * bits / 8;
                var shift = index * bits % 8;
                var mask = ((1 << bits) - 1) << shift;
                Data[at] = (byte)((Data[at] & ~mask) | (((int)value << shift) & mask));
                return (at, 1);
        }
    }
}
