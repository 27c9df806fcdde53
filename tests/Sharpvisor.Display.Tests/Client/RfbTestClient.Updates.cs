using System.Buffers.Binary;

namespace Sharpvisor.Display.Tests.Client;

/// <summary>The test client's side of FramebufferUpdate: every encoding and pseudo-encoding the server may send.</summary>
internal sealed partial class RfbTestClient
{
    private readonly ZlibFeed _zrle = new();
    private readonly ZlibFeed?[] _tight = new ZlibFeed?[4];

    /// <summary>Reads one FramebufferUpdate, applies it, and returns its rectangles' headers.</summary>
    public async Task<List<ReceivedRect>> ReadUpdateAsync()
    {
        var type = await ReadU8Async();
        Assert.Equal(0, type);
        _ = await ReadU8Async();
        var count = await ReadU16Async();
        var rects = new List<ReceivedRect>(count);
        for (var i = 0; i < count; i++)
        {
            var header = await ReadAsync(12);
            var rect = new ReceivedRect(
                BinaryPrimitives.ReadUInt16BigEndian(header),
                BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)),
                BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)),
                BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)),
                BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8)));
            rects.Add(rect);
            await ApplyAsync(rect);
        }

        return rects;
    }

    /// <summary>Reads updates (asking for the next each time) until <paramref name="done"/> says one was it; returns all rectangles read.</summary>
    public async Task<List<ReceivedRect>> ReadUpdatesUntilAsync(Func<List<ReceivedRect>, bool> done, bool requestMore = true)
    {
        var all = new List<ReceivedRect>();
        while (true)
        {
            var rects = await ReadUpdateAsync();
            all.AddRange(rects);
            if (done(rects))
            {
                return all;
            }

            if (requestMore)
            {
                await RequestUpdateAsync(incremental: true);
            }
        }
    }

    private async Task ApplyAsync(ReceivedRect rect)
    {
        switch (rect.Encoding)
        {
            case 0:
                CheckInside(rect);
                var raw = await ReadAsync(rect.Width * rect.Height * Format.BytesPerPixel);
                for (var i = 0; i < rect.Width * rect.Height; i++)
                {
                    Set(rect, i % rect.Width, i / rect.Width, Format.ReadPixel(raw.AsSpan(i * Format.BytesPerPixel)));
                }

                break;
            case 1:
                CheckInside(rect);
                var sourceX = await ReadU16Async();
                var sourceY = await ReadU16Async();
                CheckInside(new ReceivedRect(sourceX, sourceY, rect.Width, rect.Height, 1));
                var copy = (uint[])Pixels.Clone();
                for (var y = 0; y < rect.Height; y++)
                {
                    for (var x = 0; x < rect.Width; x++)
                    {
                        Set(rect, x, y, copy[((sourceY + y) * Width) + sourceX + x]);
                    }
                }

                break;
            case 7:
                CheckInside(rect);
                await DecodeTightAsync(rect);
                break;
            case 16:
                CheckInside(rect);
                await DecodeZrleAsync(rect);
                break;
            case -223:
                Resize(rect.Width, rect.Height);
                SizeAnnouncements.Add(rect);
                break;
            case -308:
                var screens = await ReadU8Async();
                _ = await ReadAsync(3 + (16 * screens));
                if (rect.Y == 0)
                {
                    Resize(rect.Width, rect.Height);
                }

                SizeAnnouncements.Add(rect);
                break;
            case -239:
                await DecodeCursorAsync(rect);
                break;
            case -258:
                KeyEventAcknowledged = true;
                break;
            default:
                Assert.Fail($"unexpected encoding {rect.Encoding}");
                break;
        }
    }

    private void Resize(int width, int height)
    {
        (Width, Height) = (width, height);
        Pixels = new uint[width * height];
    }

    private void CheckInside(ReceivedRect rect) =>
        Assert.True(rect.X + rect.Width <= Width && rect.Y + rect.Height <= Height, $"{rect} is outside the {Width}x{Height} screen");

    private void Set(ReceivedRect rect, int x, int y, uint value) => Pixels[((rect.Y + y) * Width) + rect.X + x] = value;

    private async Task DecodeCursorAsync(ReceivedRect rect)
    {
        if (rect.Width == 0 || rect.Height == 0)
        {
            (Cursor, CursorHidden) = (null, true);
            return;
        }

        var count = rect.Width * rect.Height;
        var image = await ReadAsync(count * Format.BytesPerPixel);
        var rowBytes = (rect.Width + 7) / 8;
        var mask = await ReadAsync(rowBytes * rect.Height);
        var pixels = new uint[count];
        var visible = new bool[count];
        for (var i = 0; i < count; i++)
        {
            pixels[i] = Format.ReadPixel(image.AsSpan(i * Format.BytesPerPixel));
            var (x, y) = (i % rect.Width, i / rect.Width);
            visible[i] = (mask[(y * rowBytes) + (x / 8)] & (0x80 >> (x % 8))) != 0;
        }

        (Cursor, CursorHidden) = (new ReceivedCursor(rect.X, rect.Y, rect.Width, rect.Height, pixels, visible), false);
    }
}
