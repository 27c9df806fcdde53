using System.Buffers.Binary;
using System.Numerics;

namespace Sharpvisor.Display.Rfb;

/// <summary>An RFB PIXEL_FORMAT (RFC 6143 section 7.4): how a client wants its pixels laid out on the wire.</summary>
internal readonly record struct RfbPixelFormat(
    byte BitsPerPixel,
    byte Depth,
    bool BigEndian,
    bool TrueColour,
    ushort RedMax,
    ushort GreenMax,
    ushort BlueMax,
    byte RedShift,
    byte GreenShift,
    byte BlueShift)
{
    public const int Size = 16;

    /// <summary>What the server announces: the framebuffer's own X8R8G8B8 little-endian layout.</summary>
    public static RfbPixelFormat Default { get; } = new(32, 24, false, true, 255, 255, 255, 16, 8, 0);

    public int BytesPerPixel => BitsPerPixel / 8;

    /// <summary>The bits a pixel value of this format can have set.</summary>
    public uint ColourMask => ((uint)RedMax << RedShift) | ((uint)GreenMax << GreenShift) | ((uint)BlueMax << BlueShift);

    public static RfbPixelFormat Read(ReadOnlySpan<byte> source) => new(
        source[0],
        source[1],
        source[2] != 0,
        source[3] != 0,
        BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
        BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
        BinaryPrimitives.ReadUInt16BigEndian(source[8..]),
        source[10],
        source[11],
        source[12]);

    public void Write(Span<byte> destination)
    {
        destination[..Size].Clear();
        destination[0] = BitsPerPixel;
        destination[1] = Depth;
        destination[2] = BigEndian ? (byte)1 : (byte)0;
        destination[3] = TrueColour ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], RedMax);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], GreenMax);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], BlueMax);
        destination[10] = RedShift;
        destination[11] = GreenShift;
        destination[12] = BlueShift;
    }

    /// <summary>Why this server cannot send this format, or null when it can.</summary>
    public string? Problem()
    {
        if (!TrueColour)
        {
            return "colour-map pixel formats are not supported";
        }

        if (BitsPerPixel is not (8 or 16 or 32))
        {
            return $"{BitsPerPixel} bits per pixel is not 8, 16 or 32";
        }

        return ChannelProblem("red", RedMax, RedShift) ?? ChannelProblem("green", GreenMax, GreenShift) ?? ChannelProblem("blue", BlueMax, BlueShift);
    }

    private string? ChannelProblem(string name, ushort max, byte shift) =>
        max != 0 && shift + (32 - BitOperations.LeadingZeroCount(max)) > BitsPerPixel
            ? $"the {name} channel (max {max}, shift {shift}) does not fit {BitsPerPixel} bits"
            : null;
}
