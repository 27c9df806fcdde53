using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Sharpvisor.Display;

/// <summary>
/// A framebuffer as a PNG (8-bit RGB, rows with the Sub filter, zlib at its fastest): what a screenshot writes. The
/// picture is copied under the framebuffer's lock first, so the file shows one moment, never a half-written update.
/// </summary>
public static class PngEncoder
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Writes <paramref name="framebuffer"/> as it is now; returns the size written (width, height).</summary>
    public static (int Width, int Height) Write(Framebuffer framebuffer, Stream output)
    {
        ArgumentNullException.ThrowIfNull(framebuffer);
        ArgumentNullException.ThrowIfNull(output);
        var (width, height) = framebuffer.Size;
        var stride = width * Framebuffer.BytesPerPixel;
        var pixels = new byte[(long)stride * height];
        var shown = framebuffer.CopyTo(new Rect(0, 0, width, height), pixels, stride);
        (width, height) = (shown.Width, shown.Height); // a resize in between: what was copied, rows still stride apart

        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)height);
        header[8] = 8;  // bits per channel
        header[9] = 2;  // RGB
        Chunk(output, "IHDR", header);

        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[1 + (width * 3)];
            row[0] = 1; // Sub: each byte minus the one a pixel to its left
            for (var y = 0; y < height; y++)
            {
                var source = pixels.AsSpan(y * stride, width * Framebuffer.BytesPerPixel);
                for (var x = 0; x < width; x++)
                {
                    for (var c = 0; c < 3; c++)
                    {
                        var value = source[(x * 4) + 2 - c]; // B, G, R in the framebuffer; R, G, B in the PNG
                        var left = x > 0 ? source[((x - 1) * 4) + 2 - c] : 0;
                        row[1 + (x * 3) + c] = (byte)(value - left);
                    }
                }

                zlib.Write(row);
            }
        }

        Chunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        Chunk(output, "IEND", []);
        return (width, height);
    }

    private static void Chunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        var name = Encoding.ASCII.GetBytes(type);
        output.Write(name);
        output.Write(data);
        var crc = Crc(Crc(0xFFFF_FFFF, name), data) ^ 0xFFFF_FFFF;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
