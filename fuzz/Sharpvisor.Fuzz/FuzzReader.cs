using System.Buffers.Binary;

namespace Sharpvisor.Fuzz;

/// <summary>
/// Reads a fuzz input front to back. Past the end every value reads as zero and every byte run as empty, so any
/// input (including the empty one) decodes into some scenario: the fuzzer never wastes executions on inputs a
/// strict decoder would refuse.
/// </summary>
internal ref struct FuzzReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool IsEmpty => _position >= _data.Length;

    public readonly int Remaining => Math.Max(0, _data.Length - _position);

    public byte U8() => _position < _data.Length ? _data[_position++] : (byte)0;

    public bool Bool() => (U8() & 1) != 0;

    public ushort U16() => (ushort)Little(2);

    public uint U32() => (uint)Little(4);

    public ulong U64() => Little(8);

    /// <summary>Up to <paramref name="count"/> bytes (fewer at the end of the input).</summary>
    public ReadOnlySpan<byte> Bytes(int count)
    {
        var taken = Math.Min(Math.Max(count, 0), Remaining);
        var bytes = _data.Slice(_position, taken);
        _position += taken;
        return bytes;
    }

    /// <summary>A little-endian value of <paramref name="count"/> bytes, zero-padded past the end of the input.</summary>
    private ulong Little(int count)
    {
        if (Remaining >= count)
        {
            var value = count == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..])
                : count == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(_data[_position..])
                : BinaryPrimitives.ReadUInt16LittleEndian(_data[_position..]);
            _position += count;
            return value;
        }

        ulong padded = 0;
        for (var i = 0; i < count; i++)
        {
            padded |= (ulong)U8() << (8 * i);
        }

        return padded;
    }
}
