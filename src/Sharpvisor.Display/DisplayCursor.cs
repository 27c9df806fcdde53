namespace Sharpvisor.Display;

/// <summary>
/// A pointer image a device sets on a <see cref="Framebuffer"/>: <see cref="Width"/> by <see cref="Height"/> pixels
/// of 32 bits, bytes B, G, R, A (the framebuffer's unused byte is alpha here, as in virtio-gpu's cursor resources), rows
/// packed, and the hotspot (the pixel that points). A pixel shows where its alpha is 0x80 or more; RFB has only a
/// one-bit mask. Immutable: the pixels are copied in.
/// </summary>
public sealed class DisplayCursor
{
    /// <summary>The largest side; virtio-gpu cursors are 64 by 64.</summary>
    public const int MaxDimension = 256;

    private readonly byte[] _pixels;

    public DisplayCursor(int width, int height, int hotspotX, int hotspotY, ReadOnlySpan<byte> pixels)
    {
        if (width is < 1 or > MaxDimension || height is < 1 or > MaxDimension)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"a cursor is 1 to {MaxDimension} pixels a side, not {width}x{height}");
        }

        if (hotspotX < 0 || hotspotX >= width || hotspotY < 0 || hotspotY >= height)
        {
            throw new ArgumentOutOfRangeException(nameof(hotspotX), $"the hotspot ({hotspotX}, {hotspotY}) is outside the {width}x{height} cursor");
        }

        var size = width * height * Framebuffer.BytesPerPixel;
        if (pixels.Length < size)
        {
            throw new ArgumentException($"a {width}x{height} cursor needs {size} bytes, not {pixels.Length}", nameof(pixels));
        }

        Width = width;
        Height = height;
        HotspotX = hotspotX;
        HotspotY = hotspotY;
        _pixels = pixels[..size].ToArray();
    }

    public int Width { get; }

    public int Height { get; }

    public int HotspotX { get; }

    public int HotspotY { get; }

    /// <summary>The pixels, B, G, R, A, <see cref="Width"/> times 4 bytes a row.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;
}
