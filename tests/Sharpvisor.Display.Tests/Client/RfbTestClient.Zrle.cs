namespace Sharpvisor.Display.Tests.Client;

/// <summary>ZRLE as rfbproto describes it: 64x64 tiles through one zlib stream for the connection.</summary>
internal sealed partial class RfbTestClient
{
    private async Task DecodeZrleAsync(ReceivedRect rect)
    {
        var length = await ReadU32Async();
        Assert.True(length < 64 << 20, $"a ZRLE rectangle of {length} bytes");
        _zrle.Feed(await ReadAsync((int)length));
        var (cpixelBytes, cpixelShift) = CompactPixel();
        uint ReadCPixel() => Format.ReadBytes(_zrle.Read(cpixelBytes), cpixelBytes) << cpixelShift;

        for (var tileY = 0; tileY < rect.Height; tileY += 64)
        {
            var th = Math.Min(64, rect.Height - tileY);
            for (var tileX = 0; tileX < rect.Width; tileX += 64)
            {
                var tw = Math.Min(64, rect.Width - tileX);
                var tile = new uint[tw * th];
                var sub = _zrle.ReadByte();
                var paletteSize = sub & 0x7F;
                var palette = new uint[paletteSize];
                for (var i = 0; i < paletteSize; i++)
                {
                    palette[i] = ReadCPixel();
                }

                switch (sub)
                {
                    case 0:
                        Paths.Add("zrle:raw");
                        for (var i = 0; i < tile.Length; i++)
                        {
                            tile[i] = ReadCPixel();
                        }

                        break;
                    case 1:
                        Paths.Add("zrle:solid");
                        Array.Fill(tile, palette[0]);
                        break;
                    case <= 16:
                        Paths.Add("zrle:packed");
                        var bits = paletteSize == 2 ? 1 : paletteSize <= 4 ? 2 : 4;
                        var rowBytes = ((tw * bits) + 7) / 8;
                        for (var y = 0; y < th; y++)
                        {
                            var row = _zrle.Read(rowBytes);
                            for (var x = 0; x < tw; x++)
                            {
                                var bit = x * bits;
                                var index = (row[bit / 8] >> (8 - bits - (bit % 8))) & ((1 << bits) - 1);
                                Assert.True(index < paletteSize);
                                tile[(y * tw) + x] = palette[index];
                            }
                        }

                        break;
                    case 128:
                        Paths.Add("zrle:plain-rle");
                        for (var i = 0; i < tile.Length;)
                        {
                            var value = ReadCPixel();
                            var run = ReadRunLength();
                            Assert.True(i + run <= tile.Length, "a run past the tile");
                            Array.Fill(tile, value, i, run);
                            i += run;
                        }

                        break;
                    case >= 130:
                        Paths.Add("zrle:palette-rle");
                        for (var i = 0; i < tile.Length;)
                        {
                            var index = _zrle.ReadByte();
                            var run = (index & 0x80) != 0 ? ReadRunLength() : 1;
                            Assert.True((index & 0x7F) < paletteSize);
                            Assert.True(i + run <= tile.Length, "a run past the tile");
                            Array.Fill(tile, palette[index & 0x7F], i, run);
                            i += run;
                        }

                        break;
                    default:
                        Assert.Fail($"ZRLE subencoding {sub} is unused");
                        break;
                }

                for (var i = 0; i < tile.Length; i++)
                {
                    Set(rect, tileX + (i % tw), tileY + (i / tw), tile[i]);
                }
            }
        }
    }

    private int ReadRunLength()
    {
        var length = 1;
        byte b;
        do
        {
            b = _zrle.ReadByte();
            length += b;
        }
        while (b == 255);
        return length;
    }

    /// <summary>CPIXEL: 3 bytes for 32 bpp, depth up to 24, colours within the low (preferred) or high three bytes.</summary>
    private (int Bytes, int Shift) CompactPixel()
    {
        if (Format.BitsPerPixel != 32 || Format.Depth > 24)
        {
            return (Format.BytesPerPixel, 0);
        }

        var max = ((uint)Format.RedMax << Format.RedShift) | ((uint)Format.GreenMax << Format.GreenShift) | ((uint)Format.BlueMax << Format.BlueShift);
        return max < 1 << 24 ? (3, 0) : (max & 0xFF) == 0 ? (3, 8) : (4, 0);
    }
}
