using System.Buffers.Binary;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// A growable buffer a session builds its messages in (big-endian, as RFB is) before one write to the socket.
/// Its size follows the largest rectangle piece encoded, never the client's say.
/// </summary>
internal sealed class RfbOutput
{
    private byte[] _buffer = new byte[4096];

    public int Length { get; private set; }

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, Length);

    public void Clear() => Length = 0;

    /// <summary>A span of <paramref name="size"/> bytes at the end, counted as written.</summary>
    public Span<byte> Append(int size)
    {
        Reserve(size);
        var span = _buffer.AsSpan(Length, size);
        Length += size;
        return span;
    }

    /// <summary>Drops the last <paramref name="count"/> bytes (an estimate that was too big).</summary>
    public void Shrink(int count) => Length -= count;

    public void WriteByte(byte value) => Append(1)[0] = value;

    public void WriteUInt16(int value) => BinaryPrimitives.WriteUInt16BigEndian(Append(2), (ushort)value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Append(4), value);

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32BigEndian(Append(4), value);

    public void Write(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Append(bytes.Length));

    /// <summary>A rectangle header: position, size and encoding.</summary>
    public void WriteRectHeader(int x, int y, int width, int height, int encoding)
    {
        WriteUInt16(x);
        WriteUInt16(y);
        WriteUInt16(width);
        WriteUInt16(height);
        WriteInt32(encoding);
    }

    private void Reserve(int size)
    {
        var needed = (long)Length + size;
        if (needed > _buffer.Length)
        {
            var capacity = Math.Max(needed, (long)_buffer.Length * 2);
            Array.Resize(ref _buffer, (int)Math.Min(capacity, Array.MaxLength));
        }
    }
}
