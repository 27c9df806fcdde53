namespace Sharpvisor.Vmm.State;

/// <summary>
/// The saved-state layout shared by snapshot files and (later) migration streams. Little-endian throughout.
/// <code>
/// header   "SVSTATE\0" (8 bytes), u32 format version, u32 zero
/// section* u32 tag (four ASCII bytes), u32 section version, u64 payload length, payload, u32 CRC32C of the payload
/// end      the section tagged "END " with an empty payload
/// </code>
/// A reader refuses a format or section version newer than its own, naming both; a length past the end or a checksum that
/// does not match is a corrupt file. docs/snapshots.md describes every section.
/// </summary>
public static class StateFormat
{
    public const int Version = 1;

    public const int HeaderLength = 16;

    public const int SectionHeaderLength = 16;

    /// <summary>No section but guest RAM (which is not a section) comes near this; a larger length is a corrupt file.</summary>
    public const long MaxSectionLength = 64L << 20;

    public static ReadOnlySpan<byte> Magic => "SVSTATE\0"u8;

    public static uint Tag(string fourCharacters)
    {
        if (fourCharacters.Length != 4 || fourCharacters.Any(c => c is < ' ' or > '~'))
        {
            throw new ArgumentException("a section tag is four printable ASCII characters", nameof(fourCharacters));
        }

        return fourCharacters[0] | ((uint)fourCharacters[1] << 8) | ((uint)fourCharacters[2] << 16) | ((uint)fourCharacters[3] << 24);
    }

    public static string TagName(uint tag)
    {
        Span<char> name = stackalloc char[4];
        for (var i = 0; i < 4; i++)
        {
            var c = (char)((tag >> (8 * i)) & 0xFF);
            name[i] = c is >= ' ' and <= '~' ? c : '?';
        }

        return new string(name);
    }

    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = ~0u;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (; i < data.Length; i++)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, data[i]);
        }

        return ~crc;
    }

    public static readonly uint EndTag = Tag("END ");
}
