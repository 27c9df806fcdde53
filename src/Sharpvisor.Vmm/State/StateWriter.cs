using System.Buffers.Binary;

namespace Sharpvisor.Vmm.State;

/// <summary>Writes the header, then one checksummed section per call, then the end marker (<see cref="StateFormat"/>).</summary>
public sealed class StateWriter
{
    private readonly Stream _stream;
    private bool _ended;

    public StateWriter(Stream stream)
    {
        _stream = stream;
        Span<byte> header = stackalloc byte[StateFormat.HeaderLength];
        StateFormat.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], StateFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        _stream.Write(header);
    }

    public void Section(string tag, uint version, StatePayload payload) => Section(StateFormat.Tag(tag), version, payload.WrittenSpan);

    public void Section(uint tag, uint version, ReadOnlySpan<byte> payload)
    {
        ObjectDisposedException.ThrowIf(_ended, this);
        if (payload.Length > StateFormat.MaxSectionLength)
        {
            throw new InvalidOperationException($"section {StateFormat.TagName(tag)} of {payload.Length} bytes is over the format's limit");
        }

        Span<byte> header = stackalloc byte[StateFormat.SectionHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(header, tag);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], version);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)payload.Length);
        _stream.Write(header);
        _stream.Write(payload);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, StateFormat.Crc32C(payload));
        _stream.Write(crc);
    }

    public void End()
    {
        Section(StateFormat.EndTag, 1, []);
        _ended = true;
    }
}
