namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>
/// ZRLE (encoding 16, rfbproto "ZRLE Encoding"): 64 by 64 tiles, each solid, packed palette, palette RLE, plain RLE
/// or raw, whichever is smallest, all through the connection's one zlib stream.
/// </summary>
internal sealed class ZrleEncoder : IRectEncoder, IDisposable
{
    public const int TileSize = 64;

    private const int MaxPalette = 127;
    private const byte Raw = 0;
    private const byte Solid = 1;
    private const byte PlainRle = 128;

    private readonly ZlibChannel _zlib;
    private readonly RfbOutput _tiles = new();
    private readonly uint[] _values = new uint[TileSize * TileSize];
    private readonly ColourTable _palette = new(MaxPalette);

    /// <param name="level">zlib's level, 0-9.</param>
    public ZrleEncoder(int level = 6) => _zlib = new ZlibChannel(level);

    public int Encoding => RfbEncodings.Zrle;

    /// <summary>One row of tiles per piece: the uncompressed data of a piece stays near 2 MiB.</summary>
    public void Split(Rect rect, List<Rect> pieces) => Bands.Split(rect, int.MaxValue, TileSize, pieces);

    public void Encode(RfbOutput output, ReadOnlySpan<byte> pixels, int width, int height, RfbPixelConverter converter)
    {
        _tiles.Clear();
        for (var tileY = 0; tileY < height; tileY += TileSize)
        {
            var tileHeight = Math.Min(TileSize, height - tileY);
            for (var tileX = 0; tileX < width; tileX += TileSize)
            {
                var tileWidth = Math.Min(TileSize, width - tileX);
                for (var row = 0; row < tileHeight; row++)
                {
                    var start = (((tileY + row) * width) + tileX) * Framebuffer.BytesPerPixel;
                    converter.ToClient(pixels.Slice(start, tileWidth * Framebuffer.BytesPerPixel), _values.AsSpan(row * tileWidth, tileWidth));
                }

                EncodeTile(_values.AsSpan(0, tileWidth * tileHeight), tileWidth, tileHeight, converter);
            }
        }

        _zlib.Write(_tiles.Written.Span);
        var compressed = _zlib.Flush();
        output.WriteUInt32((uint)compressed.Length);
        output.Write(compressed);
    }

    public void Dispose() => _zlib.Dispose();

    private void EncodeTile(ReadOnlySpan<uint> values, int width, int height, RfbPixelConverter converter)
    {
        var pixelBytes = converter.BytesPerCompactPixel;
        _palette.Clear();
        long runs = 0;
        long plainLengthBytes = 0;
        long paletteRunBytes = 0;
        var runStart = 0;
        for (var i = 0; i < values.Length; i++)
        {
            // Past 127 colours no palette kind can be chosen: stop counting them (a photo-like tile costs a compare a pixel).
            if (!_palette.Overflowed)
            {
                _ = _palette.Add(values[i]);
            }

            if (i + 1 == values.Length || values[i + 1] != values[i])
            {
                var length = i + 1 - runStart;
                runs++;
                plainLengthBytes += LengthBytes(length);
                paletteRunBytes += length == 1 ? 1 : 1 + LengthBytes(length);
                runStart = i + 1;
            }
        }

        if (!_palette.Overflowed && _palette.Count == 1)
        {
            _tiles.WriteByte(Solid);
            converter.WriteCompactPixel(values[0], _tiles.Append(pixelBytes));
            return;
        }

        var best = (Kind: Raw, Size: (long)values.Length * pixelBytes);
        var plain = (runs * pixelBytes) + plainLengthBytes;
        if (plain < best.Size)
        {
            best = (PlainRle, plain);
        }

        if (!_palette.Overflowed)
        {
            var paletteBytes = (long)_palette.Count * pixelBytes;
            if (paletteBytes + paletteRunBytes < best.Size)
            {
                best = ((byte)(PlainRle + _palette.Count), paletteBytes + paletteRunBytes);
            }

            if (_palette.Count <= 16 && paletteBytes + ((long)height * PackedRowBytes(width)) < best.Size)
            {
                best = ((byte)_palette.Count, paletteBytes + ((long)height * PackedRowBytes(width)));
            }
        }

        _tiles.WriteByte(best.Kind);
        switch (best.Kind)
        {
            case Raw:
                converter.WriteCompactPixels(values, _tiles.Append(values.Length * pixelBytes));
                break;
            case PlainRle:
                WriteRuns(values, converter, palette: false);
                break;
            case > PlainRle:
                WritePalette(converter);
                WriteRuns(values, converter, palette: true);
                break;
            default:
                WritePalette(converter);
                WritePacked(values, width, height);
                break;
        }
    }

    private int BitsPerIndex => _palette.Count switch
    {
        2 => 1,
        <= 4 => 2,
        _ => 4,
    };

    private int PackedRowBytes(int width) => ((width * BitsPerIndex) + 7) / 8;

    private void WritePalette(RfbPixelConverter converter)
    {
        foreach (var colour in _palette.Colours)
        {
            converter.WriteCompactPixel(colour, _tiles.Append(converter.BytesPerCompactPixel));
        }
    }

    private void WriteRuns(ReadOnlySpan<uint> values, RfbPixelConverter converter, bool palette)
    {
        var runStart = 0;
        for (var i = 0; i < values.Length; i++)
        {
            if (i + 1 < values.Length && values[i + 1] == values[i])
            {
                continue;
            }

            var length = i + 1 - runStart;
            runStart = i + 1;
            if (palette)
            {
                var index = (byte)_palette.IndexOf(values[i]);
                _tiles.WriteByte(length == 1 ? index : (byte)(index | 0x80));
                if (length == 1)
                {
                    continue;
                }
            }
            else
            {
                converter.WriteCompactPixel(values[i], _tiles.Append(converter.BytesPerCompactPixel));
            }

            WriteLength(length);
        }
    }

    private void WritePacked(ReadOnlySpan<uint> values, int width, int height)
    {
        var bits = BitsPerIndex;
        var rowBytes = PackedRowBytes(width);
        for (var row = 0; row < height; row++)
        {
            var packed = _tiles.Append(rowBytes);
            packed.Clear();
            for (var x = 0; x < width; x++)
            {
                var index = _palette.IndexOf(values[(row * width) + x]);
                var bit = x * bits;
                packed[bit / 8] |= (byte)(index << (8 - bits - (bit % 8)));
            }
        }
    }

    // A run of L is (L - 1) as 255s and a last byte below 255.
    private void WriteLength(int length)
    {
        var rest = length - 1;
        while (rest >= 255)
        {
            _tiles.WriteByte(255);
            rest -= 255;
        }

        _tiles.WriteByte((byte)rest);
    }

    private static int LengthBytes(int length) => ((length - 1) / 255) + 1;
}
