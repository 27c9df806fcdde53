namespace Sharpvisor.Display.Tests.Client;

/// <summary>Tight as rfbproto describes it (fill, and basic compression with the copy and palette filters).</summary>
internal sealed partial class RfbTestClient
{
    private async Task DecodeTightAsync(ReceivedRect rect)
    {
        Assert.True(rect.Width <= 2048, "Tight rectangles are at most 2048 wide");
        var control = await ReadU8Async();
        for (var i = 0; i < 4; i++)
        {
            if ((control & (1 << i)) != 0)
            {
                _tight[i]?.Dispose();
                _tight[i] = null;
            }
        }

        var method = control >> 4;
        var tpixelBytes = Format is { BitsPerPixel: 32, Depth: 24, RedMax: 255, GreenMax: 255, BlueMax: 255 } ? 3 : Format.BytesPerPixel;
        uint TPixel(ReadOnlySpan<byte> b) => tpixelBytes == 3
            ? ((uint)b[0] << Format.RedShift) | ((uint)b[1] << Format.GreenShift) | ((uint)b[2] << Format.BlueShift)
            : Format.ReadPixel(b);

        var count = rect.Width * rect.Height;
        if (method == 8)
        {
            Paths.Add("tight:fill");
            var value = TPixel(await ReadAsync(tpixelBytes));
            for (var i = 0; i < count; i++)
            {
                Set(rect, i % rect.Width, i / rect.Width, value);
            }

            return;
        }

        Assert.True(method < 8, $"Tight method {method:X} (only fill and basic compression are expected)");
        var stream = method & 3;
        var filter = (method & 4) != 0 ? await ReadU8Async() : 0;
        if (filter == 0)
        {
            Paths.Add("tight:copy");
            var data = await ReadTightDataAsync(stream, count * tpixelBytes);
            for (var i = 0; i < count; i++)
            {
                Set(rect, i % rect.Width, i / rect.Width, TPixel(data.AsSpan(i * tpixelBytes)));
            }

            return;
        }

        Assert.Equal(1, filter);
        var colours = await ReadU8Async() + 1;
        var paletteBytes = await ReadAsync(colours * tpixelBytes);
        var palette = Enumerable.Range(0, colours).Select(i => TPixel(paletteBytes.AsSpan(i * tpixelBytes))).ToArray();
        if (colours == 2)
        {
            Paths.Add("tight:mono");
            var rowBytes = (rect.Width + 7) / 8;
            var bits = await ReadTightDataAsync(stream, rowBytes * rect.Height);
            for (var y = 0; y < rect.Height; y++)
            {
                for (var x = 0; x < rect.Width; x++)
                {
                    Set(rect, x, y, palette[(bits[(y * rowBytes) + (x / 8)] >> (7 - (x % 8))) & 1]);
                }
            }

            return;
        }

        Paths.Add("tight:palette");
        var indices = await ReadTightDataAsync(stream, count);
        for (var i = 0; i < count; i++)
        {
            Assert.True(indices[i] < colours);
            Set(rect, i % rect.Width, i / rect.Width, palette[indices[i]]);
        }
    }

    private async Task<byte[]> ReadTightDataAsync(int stream, int length)
    {
        if (length < 12)
        {
            return await ReadAsync(length);
        }

        var compressedLength = 0;
        for (var i = 0; i < 3; i++)
        {
            var b = await ReadU8Async();
            compressedLength |= (i < 2 ? b & 0x7F : b) << (7 * i);
            if (i < 2 && (b & 0x80) == 0)
            {
                break;
            }
        }

        var feed = _tight[stream] ??= new ZlibFeed();
        feed.Feed(await ReadAsync(compressedLength));
        return feed.Read(length);
    }
}
