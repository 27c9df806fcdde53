using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Sharpvisor.Vmm.State;

/// <summary>Builds one section's payload: little-endian integers, byte strings and native structs, each struct with its size.</summary>
public sealed class StatePayload
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public StatePayload() => _buffer = new();

    /// <summary>A payload whose buffer starts at <paramref name="capacity"/> bytes: one that is filled and sent again
    /// and again (<see cref="Reset"/>) never grows or is allocated anew.</summary>
    public StatePayload(int capacity) => _buffer = new(capacity);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    /// <summary>Empties the payload, keeping its buffer (the bytes are not cleared: they are overwritten).</summary>
    public void Reset() => _buffer.ResetWrittenCount();

    public StatePayload U8(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public StatePayload Bool(bool value) => U8(value ? (byte)1 : (byte)0);

    public StatePayload U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public StatePayload U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    /// <summary>A u32 length, then the bytes.</summary>
    public StatePayload Bytes(ReadOnlySpan<byte> bytes)
    {
        U32((uint)bytes.Length);
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>Bytes without a length: the reader knows how many from fields before them.</summary>
    public StatePayload Raw(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>A native struct as its bytes (length-prefixed, so a reader with another layout refuses it).</summary>
    public StatePayload Struct<T>(T value)
        where T : unmanaged => Bytes(MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(ref value, 1)));

    public StatePayload Structs<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        U32((uint)values.Length);
        return Bytes(MemoryMarshal.AsBytes(values));
    }
}

/// <summary>Reads a payload <see cref="StatePayload"/> wrote; running past its end is a truncated section, never a wild read.</summary>
public ref struct StatePayloadReader(ReadOnlySpan<byte> payload, string section)
{
    private ReadOnlySpan<byte> _rest = payload;

    public readonly bool AtEnd => _rest.IsEmpty;

    public byte U8() => Take(1)[0];

    public bool Bool() => U8() switch
    {
        0 => false,
        1 => true,
        var b => throw new StateException($"section {section}: {b} is not a boolean"),
    };

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    /// <summary>A length-prefixed byte string of at most <paramref name="maxLength"/> bytes.</summary>
    public ReadOnlySpan<byte> Bytes(int maxLength)
    {
        var length = U32();
        if (length > (uint)maxLength)
        {
            throw new StateException($"section {section}: a field of {length} bytes is longer than its limit of {maxLength}");
        }

        return Take((int)length);
    }

    /// <summary><paramref name="length"/> bytes written by <see cref="StatePayload.Raw"/>.</summary>
    public ReadOnlySpan<byte> Raw(int length) => Take(length);

    public T Struct<T>()
        where T : unmanaged
    {
        var size = Marshal.SizeOf<T>();
        var bytes = Bytes(size);
        if (bytes.Length != size)
        {
            throw new StateException($"section {section}: {typeof(T).Name} has {bytes.Length} bytes, this Sharpvisor's has {size}");
        }

        return MemoryMarshal.Read<T>(bytes);
    }

    public T[] Structs<T>(int maxCount)
        where T : unmanaged
    {
        var count = U32();
        if (count > (uint)maxCount)
        {
            throw new StateException($"section {section}: {count} {typeof(T).Name} entries, at most {maxCount} allowed");
        }

        var bytes = Bytes(int.MaxValue);
        if ((ulong)bytes.Length != count * (ulong)Marshal.SizeOf<T>())
        {
            throw new StateException($"section {section}: {count} {typeof(T).Name} entries do not fill {bytes.Length} bytes");
        }

        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    /// <summary>Called when a section is fully read: bytes left over mean a layout this reader does not know.</summary>
    public readonly void ExpectEnd()
    {
        if (!_rest.IsEmpty)
        {
            throw new StateException($"section {section}: {_rest.Length} bytes left over after its last field");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _rest.Length)
        {
            throw new StateException($"section {section} is truncated");
        }

        var taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }
}
