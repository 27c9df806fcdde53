using System.Buffers.Binary;

namespace Sharpvisor.Vmm.State;

/// <summary>One section as read: its tag, version and checked payload.</summary>
public sealed record StateSection(uint Tag, uint Version, byte[] Payload)
{
    public string Name => StateFormat.TagName(Tag);

    public StatePayloadReader Reader() => new(Payload, Name);

    /// <summary>Refuses a section written by a newer Sharpvisor, naming both versions.</summary>
    public StateSection Expect(uint newestKnown)
    {
        if (Version == 0 || Version > newestKnown)
        {
            throw new StateException($"section {Name} has version {Version}; this Sharpvisor reads versions 1 to {newestKnown}: restore it with the Sharpvisor that wrote it or a newer one");
        }

        return this;
    }
}

/// <summary>
/// Reads what <see cref="StateWriter"/> wrote, trusting nothing: the magic and version are checked first, every length
/// against <see cref="StateFormat.MaxSectionLength"/> and what is left of the input, every payload against its checksum.
/// </summary>
public sealed class StateReader
{
    private readonly Stream _stream;
    private readonly long _limit;

    /// <param name="stream">Positioned at the header.</param>
    /// <param name="limit">How many bytes of the stream belong to the state; sections past it are a truncated file.</param>
    public StateReader(Stream stream, long limit)
    {
        _stream = stream;
        _limit = limit;
        Span<byte> header = stackalloc byte[StateFormat.HeaderLength];
        if (!TryFill(header))
        {
            throw new StateException("not a Sharpvisor state: too short for its header");
        }

        if (!header[..8].SequenceEqual(StateFormat.Magic))
        {
            throw new StateException("not a Sharpvisor state: its first bytes are not SVSTATE");
        }

        FormatVersion = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (FormatVersion == 0 || FormatVersion > StateFormat.Version)
        {
            throw new StateException($"the state has format version {FormatVersion}; this Sharpvisor reads versions 1 to {StateFormat.Version}: use the Sharpvisor that wrote it or a newer one");
        }

        Consumed = StateFormat.HeaderLength;
    }

    public uint FormatVersion { get; }

    /// <summary>Bytes read so far, header included.</summary>
    public long Consumed { get; private set; }

    /// <summary>The next section, or null after the end marker.</summary>
    public StateSection? Next()
    {
        Span<byte> header = stackalloc byte[StateFormat.SectionHeaderLength];
        if (!TryFill(header))
        {
            throw new StateException("the state is truncated: it ends before its end marker");
        }

        var tag = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        var length = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        var name = StateFormat.TagName(tag);
        if (length > (ulong)StateFormat.MaxSectionLength || (long)length + 4 > _limit - Consumed)
        {
            throw new StateException($"section {name} claims {length} bytes, more than the state holds: the file is truncated or corrupt");
        }

        var payload = GC.AllocateUninitializedArray<byte>((int)length); // filled right away: no need to zero it first
        Span<byte> crc = stackalloc byte[4];
        if (!TryFill(payload) || !TryFill(crc))
        {
            throw new StateException($"section {name} is truncated");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(crc) != StateFormat.Crc32C(payload))
        {
            throw new StateException($"section {name} fails its checksum: the file is corrupt");
        }

        return tag == StateFormat.EndTag ? null : new StateSection(tag, version, payload);
    }

    private bool TryFill(Span<byte> buffer)
    {
        if (buffer.Length > _limit - Consumed)
        {
            return false;
        }

        var read = _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        Consumed += read;
        return read == buffer.Length;
    }
}
