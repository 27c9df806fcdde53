namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>
/// Tight (encoding 7, rfbproto "Tight Encoding") in its lossless basic form: a one-colour piece is a fill; a piece of
/// few colours goes through the palette filter (zlib stream 1); anything else through the copy filter (zlib stream
/// 0). No JPEG and no gradient filter: the client gets exact pixels, and zlib does the rest.
/// </summary>
internal sealed class TightEncoder : IRectEncoder, IDisposable
{
    /// <summary>The widest rectangle Tight allows.</summary>
    public const int MaxWidth = 2048;

    /// <summary>Pixels per piece, as TightVNC keeps them, so any decoder's buffers suffice.</summary>
    public const int MaxPixels = 65536;

    private const int MaxPalette = 256;
    private const int MinToCompress = 12;
    private const byte Fill = 0x80;
    private const byte CopyStream0 = 0x00;
    private const byte PaletteStream1 = 0x40 | 0x10; // read-filter-id, stream 1
    private const byte PaletteFilter = 1;

    private readonly uint[] _values = new uint[MaxPixels];
    private readonly ColourTable _palette = new(MaxPalette);
    private readonly RfbOutput _data = new();
    private readonly int _level;
    private ZlibChannel? _copyStream;
    private ZlibChannel? _paletteStream;

    /// <param name="level">zlib's level, 0-9.</param>
    public TightEncoder(int level = 6) => _level = level;

    public int Encoding => RfbEncodings.Tight;

    public void Split(Rect rect, List<Rect> pieces)
    {
        var width = Math.Min(rect.Width, MaxWidth);
        Bands.Split(rect, MaxWidth, Math.Max(1, MaxPixels / width), pieces);
    }

    public void Encode(RfbOutput output, ReadOnlySpan<byte> pixels, int width, int height, RfbPixelConverter converter)
    {
        var values = _values.AsSpan(0, width * height);
        converter.ToClient(pixels[..(values.Length * Framebuffer.BytesPerPixel)], values);

        _palette.Clear();
        foreach (var value in values)
        {
            if (!_palette.Add(value))
            {
                break;
            }
        }

        var tightBytes = converter.BytesPerTightPixel;
        if (_palette.Count == 1)
        {
            output.WriteByte(Fill);
            converter.WriteTightPixel(values[0], output.Append(tightBytes));
            return;
        }

        _data.Clear();
        if (!_palette.Overflowed && _palette.Count * 2 <= values.Length)
        {
            output.WriteByte(PaletteStream1);
            output.WriteByte(PaletteFilter);
            output.WriteByte((byte)(_palette.Count - 1));
            foreach (var colour in _palette.Colours)
            {
                converter.WriteTightPixel(colour, output.Append(tightBytes));
            }

            WriteIndices(values, width, height);
            WriteData(output, _paletteStream ??= new ZlibChannel(_level));
            return;
        }

        output.WriteByte(CopyStream0);
        var data = _data.Append(values.Length * tightBytes);
        for (var i = 0; i < values.Length; i++)
        {
            converter.WriteTightPixel(values[i], data[(i * tightBytes)..]);
        }

        WriteData(output, _copyStream ??= new ZlibChannel(_level));
    }

    public void Dispose()
    {
        _copyStream?.Dispose();
        _paletteStream?.Dispose();
    }

    // Two colours take a bit a pixel, rows padded to a byte; more take a byte a pixel.
    private void WriteIndices(ReadOnlySpan<uint> values, int width, int height)
    {
        if (_palette.Count > 2)
        {
            var indices = _data.Append(values.Length);
            for (var i = 0; i < values.Length; i++)
            {
                indices[i] = (byte)_palette.IndexOf(values[i]);
            }

            return;
        }

        var rowBytes = (width + 7) / 8;
        for (var row = 0; row < height; row++)
        {
            var packed = _data.Append(rowBytes);
            packed.Clear();
            for (var x = 0; x < width; x++)
            {
                if (_palette.IndexOf(values[(row * width) + x]) == 1)
                {
                    packed[x / 8] |= (byte)(0x80 >> (x % 8));
                }
            }
        }
    }

    // Under 12 bytes the data goes as is; otherwise its compressed length (1 to 3 bytes) and the zlib bytes.
    private void WriteData(RfbOutput output, ZlibChannel stream)
    {
        var data = _data.Written.Span;
        if (data.Length < MinToCompress)
        {
            output.Write(data);
            return;
        }

        stream.Write(data);
        var compressed = stream.Flush();
        WriteCompactLength(output, compressed.Length);
        output.Write(compressed);
    }

    private static void WriteCompactLength(RfbOutput output, int length)
    {
        output.WriteByte((byte)((length & 0x7F) | (length > 0x7F ? 0x80 : 0)));
        if (length > 0x7F)
        {
            output.WriteByte((byte)(((length >> 7) & 0x7F) | (length > 0x3FFF ? 0x80 : 0)));
            if (length > 0x3FFF)
            {
                output.WriteByte((byte)(length >> 14));
            }
        }
    }
}
