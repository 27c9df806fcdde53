using System.Buffers.Binary;

namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>Raw (encoding 0): every pixel in the client's format, rows top to bottom.</summary>
internal sealed class RawEncoder : IRectEncoder
{
    /// <summary>Rows per piece: with the widest framebuffer, 2 MiB of pixels.</summary>
    public const int BandHeight = 64;

    public static RawEncoder Instance { get; } = new();

    public int Encoding => RfbEncodings.Raw;

    public void Split(Rect rect, List<Rect> pieces) => Bands.Split(rect, int.MaxValue, BandHeight, pieces);

    public void Encode(RfbOutput output, ReadOnlySpan<byte> pixels, int width, int height, RfbPixelConverter converter)
    {
        var count = width * height;
        var size = converter.BytesPerPixel;
        var destination = output.Append(count * size);
        for (var i = 0; i < count; i++)
        {
            var xrgb = BinaryPrimitives.ReadUInt32LittleEndian(pixels[(i * Framebuffer.BytesPerPixel)..]);
            converter.WritePixel(converter.ToClient(xrgb), destination[(i * size)..]);
        }
    }
}
