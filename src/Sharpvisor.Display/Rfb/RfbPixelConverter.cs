using System.Buffers.Binary;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// Turns framebuffer pixels (X8R8G8B8) into one client's pixel values and wire bytes: PIXEL (the format's size and
/// byte order), ZRLE's CPIXEL and Tight's TPIXEL. Built once per SetPixelFormat; immutable, so a session can encode
/// with it while the reader installs the next one.
/// </summary>
internal sealed class RfbPixelConverter
{
    private readonly uint[] _red = new uint[256];
    private readonly uint[] _green = new uint[256];
    private readonly uint[] _blue = new uint[256];
    private readonly bool _identity;
    private readonly int _compactShift;

    public RfbPixelConverter(RfbPixelFormat format)
    {
        Format = format;
        for (var i = 0; i < 256; i++)
        {
            _red[i] = Scale(i, format.RedMax) << format.RedShift;
            _green[i] = Scale(i, format.GreenMax) << format.GreenShift;
            _blue[i] = Scale(i, format.BlueMax) << format.BlueShift;
        }

        _identity = format.BitsPerPixel == 32 && format is { RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8, BlueShift: 0 };
        BytesPerPixel = format.BytesPerPixel;

        // ZRLE (rfbproto "ZRLE Encoding"): 3 bytes when 32 bpp, depth 24 or less and the colour bits fit the low or
        // the high three bytes; the low ones when both would do.
        var mask = format.ColourMask;
        if (format.BitsPerPixel == 32 && format.Depth <= 24 && (mask <= 0xFF_FFFF || (mask & 0xFF) == 0))
        {
            BytesPerCompactPixel = 3;
            _compactShift = mask <= 0xFF_FFFF ? 0 : 8;
        }
        else
        {
            BytesPerCompactPixel = BytesPerPixel;
        }

        // Tight (rfbproto "Tight Encoding"): 3 bytes R, G, B when 32 bpp, depth 24 and every channel 8 bits wide.
        TightIsRgb = format.BitsPerPixel == 32 && format.Depth == 24 && format is { RedMax: 255, GreenMax: 255, BlueMax: 255 };
        BytesPerTightPixel = TightIsRgb ? 3 : BytesPerPixel;
    }

    public static RfbPixelConverter Default { get; } = new(RfbPixelFormat.Default);

    public RfbPixelFormat Format { get; }

    public int BytesPerPixel { get; }

    public int BytesPerCompactPixel { get; }

    public int BytesPerTightPixel { get; }

    public bool TightIsRgb { get; }

    /// <summary>The client's value for a framebuffer pixel (0x??RRGGBB).</summary>
    public uint ToClient(uint xrgb) =>
        _identity ? xrgb & 0xFF_FFFF : _red[(xrgb >> 16) & 0xFF] | _green[(xrgb >> 8) & 0xFF] | _blue[xrgb & 0xFF];

    /// <summary>Converts a row of framebuffer pixels (4 bytes each) into client values.</summary>
    public void ToClient(ReadOnlySpan<byte> xrgb, Span<uint> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = ToClient(BinaryPrimitives.ReadUInt32LittleEndian(xrgb[(i * Framebuffer.BytesPerPixel)..]));
        }
    }

    /// <summary>Writes a client value as a PIXEL (<see cref="BytesPerPixel"/> bytes).</summary>
    public void WritePixel(uint value, Span<byte> destination) => WriteBytes(value, BytesPerPixel, destination);

    /// <summary>Writes a client value as a ZRLE CPIXEL (<see cref="BytesPerCompactPixel"/> bytes).</summary>
    public void WriteCompactPixel(uint value, Span<byte> destination)
    {
        if (BytesPerCompactPixel == 3)
        {
            WriteBytes(value >> _compactShift, 3, destination);
        }
        else
        {
            WritePixel(value, destination);
        }
    }

    /// <summary>Writes client values as CPIXELs, one after another (<see cref="BytesPerCompactPixel"/> bytes each).</summary>
    public void WriteCompactPixels(ReadOnlySpan<uint> values, Span<byte> destination)
    {
        var size = BytesPerCompactPixel;
        if (size == 3 && !Format.BigEndian)
        {
            // The common case (32-bit true colour, little-endian): the low three bytes of each shifted value.
            var at = 0;
            foreach (var value in values)
            {
                var shifted = value >> _compactShift;
                destination[at] = (byte)shifted;
                destination[at + 1] = (byte)(shifted >> 8);
                destination[at + 2] = (byte)(shifted >> 16);
                at += 3;
            }

            return;
        }

        for (var i = 0; i < values.Length; i++)
        {
            WriteCompactPixel(values[i], destination.Slice(i * size, size));
        }
    }

    /// <summary>Writes a client value as a Tight TPIXEL (<see cref="BytesPerTightPixel"/> bytes).</summary>
    public void WriteTightPixel(uint value, Span<byte> destination)
    {
        if (TightIsRgb)
        {
            destination[0] = (byte)(value >> Format.RedShift);
            destination[1] = (byte)(value >> Format.GreenShift);
            destination[2] = (byte)(value >> Format.BlueShift);
        }
        else
        {
            WritePixel(value, destination);
        }
    }

    private void WriteBytes(uint value, int count, Span<byte> destination)
    {
        for (var i = 0; i < count; i++)
        {
            var shift = 8 * (Format.BigEndian ? count - 1 - i : i);
            destination[i] = (byte)(value >> shift);
        }
    }

    // Rounds to the nearest level, so 255 always becomes max and 0 stays 0 whatever max is.
    private static uint Scale(int level, ushort max) => (uint)(((level * max) + 127) / 255);
}
