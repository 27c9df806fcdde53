using System.Buffers.Binary;

namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>
/// The Cursor pseudo-rectangle (-239, rfbproto "Cursor Pseudo-encoding"): hotspot as position, the image in the
/// client's pixel format, then a one-bit mask a row padded to a byte. A hidden cursor is an empty rectangle.
/// </summary>
internal static class CursorWriter
{
    /// <summary>Alpha at or above this shows the pixel.</summary>
    public const byte VisibleAlpha = 0x80;

    public static void Write(RfbOutput output, DisplayCursor? cursor, RfbPixelConverter converter)
    {
        if (cursor is null)
        {
            output.WriteRectHeader(0, 0, 0, 0, RfbEncodings.Cursor);
            return;
        }

        output.WriteRectHeader(cursor.HotspotX, cursor.HotspotY, cursor.Width, cursor.Height, RfbEncodings.Cursor);
        var pixels = cursor.Pixels;
        var count = cursor.Width * cursor.Height;
        var image = output.Append(count * converter.BytesPerPixel);
        for (var i = 0; i < count; i++)
        {
            var argb = BinaryPrimitives.ReadUInt32LittleEndian(pixels[(i * Framebuffer.BytesPerPixel)..]);
            converter.WritePixel(converter.ToClient(argb), image[(i * converter.BytesPerPixel)..]);
        }

        var rowBytes = (cursor.Width + 7) / 8;
        for (var row = 0; row < cursor.Height; row++)
        {
            var mask = output.Append(rowBytes);
            mask.Clear();
            for (var x = 0; x < cursor.Width; x++)
            {
                if (pixels[((((row * cursor.Width) + x) * Framebuffer.BytesPerPixel) + 3)] >= VisibleAlpha)
                {
                    mask[x / 8] |= (byte)(0x80 >> (x % 8));
                }
            }
        }
    }
}
