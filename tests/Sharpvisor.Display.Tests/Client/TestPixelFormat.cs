using System.Buffers.Binary;

namespace Sharpvisor.Display.Tests.Client;

/// <summary>The test client's pixel format, with its own (spec-derived) idea of what each framebuffer pixel becomes.</summary>
internal sealed record TestPixelFormat(
    int BitsPerPixel,
    int Depth,
    bool BigEndian,
    bool TrueColour,
    int RedMax,
    int GreenMax,
    int BlueMax,
    int RedShift,
    int GreenShift,
    int BlueShift)
{
    public static TestPixelFormat Rgb888 { get; } = new(32, 24, false, true, 255, 255, 255, 16, 8, 0);

    public static TestPixelFormat Bgr888BigEndian { get; } = new(32, 24, true, true, 255, 255, 255, 0, 8, 16);

    public static TestPixelFormat Rgb565 { get; } = new(16, 16, false, true, 31, 63, 31, 11, 5, 0);

    public static TestPixelFormat Rgb565BigEndian { get; } = Rgb565 with { BigEndian = true };

    public static TestPixelFormat Rgb332 { get; } = new(8, 8, false, true, 7, 7, 3, 5, 2, 0);

    public int BytesPerPixel => BitsPerPixel / 8;

    public static TestPixelFormat Parse(ReadOnlySpan<byte> b) => new(
        b[0], b[1], b[2] != 0, b[3] != 0,
        BinaryPrimitives.ReadUInt16BigEndian(b[4..]), BinaryPrimitives.ReadUInt16BigEndian(b[6..]), BinaryPrimitives.ReadUInt16BigEndian(b[8..]),
        b[10], b[11], b[12]);

    public byte[] ToBytes()
    {
        var b = new byte[16];
        b[0] = (byte)BitsPerPixel;
        b[1] = (byte)Depth;
        b[2] = (byte)(BigEndian ? 1 : 0);
        b[3] = (byte)(TrueColour ? 1 : 0);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)RedMax);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), (ushort)GreenMax);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), (ushort)BlueMax);
        b[10] = (byte)RedShift;
        b[11] = (byte)GreenShift;
        b[12] = (byte)BlueShift;
        return b;
    }

    /// <summary>The value this format gives a framebuffer pixel 0x??RRGGBB: each 8-bit level scaled to max, rounded.</summary>
    public uint Expected(uint xrgb) =>
        (Scale((xrgb >> 16) & 0xFF, RedMax) << RedShift) | (Scale((xrgb >> 8) & 0xFF, GreenMax) << GreenShift) | (Scale(xrgb & 0xFF, BlueMax) << BlueShift);

    public uint ReadPixel(ReadOnlySpan<byte> bytes) => ReadBytes(bytes, BytesPerPixel);

    public uint ReadBytes(ReadOnlySpan<byte> bytes, int count)
    {
        uint value = 0;
        for (var i = 0; i < count; i++)
        {
            var b = BigEndian ? bytes[i] : bytes[count - 1 - i];
            value = (value << 8) | b;
        }

        return value;
    }

    private static uint Scale(uint level, int max) => (uint)(((level * max) + 127) / 255);
}
