using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// Just enough of an AML encoder (ACPI 6.x, chapter 20) for a static DSDT: names, integers, packages, buffers,
/// scopes and devices. Each method returns the encoded term, so terms nest the way the ASL reads.
/// </summary>
internal static class Aml
{
    private const byte ZeroOp = 0x00;
    private const byte OneOp = 0x01;
    private const byte NameOp = 0x08;
    private const byte BytePrefix = 0x0A;
    private const byte WordPrefix = 0x0B;
    private const byte DWordPrefix = 0x0C;
    private const byte QWordPrefix = 0x0E;
    private const byte ScopeOp = 0x10;
    private const byte BufferOp = 0x11;
    private const byte PackageOp = 0x12;
    private const byte ExtOpPrefix = 0x5B;
    private const byte DeviceOp = 0x82;
    private const byte RootChar = (byte)'\\';
    private const byte DualNamePrefix = 0x2E;
    private const byte MultiNamePrefix = 0x2F;
    private const int NameSegLength = 4;

    public static byte[] Name(string path, byte[] value) => [NameOp, .. NameString(path), .. value];

    public static byte[] Scope(string path, params byte[][] terms) => [ScopeOp, .. WithPkgLength([.. NameString(path), .. Concat(terms)])];

    public static byte[] Device(string path, params byte[][] terms) =>
        [ExtOpPrefix, DeviceOp, .. WithPkgLength([.. NameString(path), .. Concat(terms)])];

    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > byte.MaxValue)
        {
            throw new ArgumentException("a Package holds at most 255 elements; larger needs VarPackage", nameof(elements));
        }

        return [PackageOp, .. WithPkgLength([(byte)elements.Length, .. Concat(elements)])];
    }

    public static byte[] Buffer(byte[] contents) => [BufferOp, .. WithPkgLength([.. Integer((ulong)contents.Length), .. contents])];

    /// <summary>The shortest encoding of <paramref name="value"/>, as an ASL compiler would choose.</summary>
    public static byte[] Integer(ulong value)
    {
        switch (value)
        {
            case 0:
                return [ZeroOp];
            case 1:
                return [OneOp];
            case <= byte.MaxValue:
                return [BytePrefix, (byte)value];
            case <= ushort.MaxValue:
                return [WordPrefix, (byte)value, (byte)(value >> 8)];
            case <= uint.MaxValue:
                var dword = new byte[5];
                dword[0] = DWordPrefix;
                BinaryPrimitives.WriteUInt32LittleEndian(dword.AsSpan(1), (uint)value);
                return dword;
            default:
                var qword = new byte[9];
                qword[0] = QWordPrefix;
                BinaryPrimitives.WriteUInt64LittleEndian(qword.AsSpan(1), value);
                return qword;
        }
    }

    /// <summary>
    /// A compressed EISA ID such as "PNP0501": three letters of five bits each ('A' = 1) then four hex digits,
    /// stored big-endian, so the 32-bit integer is the byte-swapped value.
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(char.IsAsciiHexDigit))
        {
            throw new ArgumentException($"'{id}' is not an EISA ID (three capitals then four hex digits)", nameof(id));
        }

        var vendor = ((id[0] - '@') << 10) | ((id[1] - '@') << 5) | (id[2] - '@');
        var product = Convert.ToUInt16(id[3..], 16);
        var bigEndian = ((uint)vendor << 16) | product;
        return Integer(BinaryPrimitives.ReverseEndianness(bigEndian));
    }

    /// <summary>
    /// A NameString: an optional leading backslash, then dot-separated segments of up to four characters
    /// (padded with '_').
    /// </summary>
    public static byte[] NameString(string path)
    {
        var rooted = path.StartsWith('\\');
        var segments = (rooted ? path[1..] : path).Split('.');
        var prefix = rooted ? new[] { RootChar } : [];
        var encoded = segments.SelectMany(NameSeg).ToArray();
        return segments.Length switch
        {
            1 => [.. prefix, .. encoded],
            2 => [.. prefix, DualNamePrefix, .. encoded],
            <= byte.MaxValue => [.. prefix, MultiNamePrefix, (byte)segments.Length, .. encoded],
            _ => throw new ArgumentException($"'{path}' has too many segments", nameof(path)),
        };
    }

    /// <summary>
    /// Prefixes <paramref name="body"/> with its PkgLength, whose count includes the PkgLength bytes themselves:
    /// one byte up to 63, else a lead byte holding the count of extra bytes and the low nibble, then 8-bit groups.
    /// </summary>
    public static byte[] WithPkgLength(byte[] body)
    {
        if (body.Length + 1 <= 0x3F)
        {
            return [(byte)(body.Length + 1), .. body];
        }

        for (var extra = 1; extra <= 3; extra++)
        {
            var total = body.Length + 1 + extra;
            if (total < 1 << (4 + (8 * extra)))
            {
                var encoded = new byte[1 + extra];
                encoded[0] = (byte)((extra << 6) | (total & 0x0F));
                for (var i = 1; i <= extra; i++)
                {
                    encoded[i] = (byte)(total >> (4 + (8 * (i - 1))));
                }

                return [.. encoded, .. body];
            }
        }

        throw new ArgumentException("AML package longer than 2^28 bytes", nameof(body));
    }

    private static byte[] NameSeg(string segment)
    {
        if (segment.Length is 0 or > NameSegLength
            || !(char.IsAsciiLetterUpper(segment[0]) || segment[0] == '_')
            || !segment.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"'{segment}' is not an AML name segment", nameof(segment));
        }

        return [.. segment.PadRight(NameSegLength, '_').Select(c => (byte)c)];
    }

    private static byte[] Concat(byte[][] parts) => [.. parts.SelectMany(p => p)];
}
