using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Rfb.Encoders;

namespace Sharpvisor.Display.Tests;

/// <summary>Small pieces of the protocol checked on their own: splitting, pixel layouts, scancodes.</summary>
public sealed class ProtocolPiecesTests
{
    [Fact]
    public void Bands_cover_a_rectangle_anywhere_exactly_once_with_no_limit_wrapping()
    {
        var pieces = new List<Rect>();
        Bands.Split(new Rect(8000, 10, 192, 130), int.MaxValue, 64, pieces);
        Assert.Equal([new Rect(8000, 10, 192, 64), new Rect(8000, 74, 192, 64), new Rect(8000, 138, 192, 2)], pieces);

        pieces.Clear();
        new TightEncoder().Split(new Rect(5, 0, 4100, 40), pieces);
        Assert.All(pieces, p => Assert.True(p.Width <= TightEncoder.MaxWidth && p.Width * p.Height <= TightEncoder.MaxPixels));
        Assert.Equal(4100 * 40, pieces.Sum(p => p.Width * p.Height));
    }

    [Theory]
    [InlineData(new[] { 16 }, 6)]                 // none asked: zlib's default
    [InlineData(new[] { 16, -254 }, 2)]           // CompressLevel2, as noVNC and TigerVNC send
    [InlineData(new[] { -247, 7, -256 }, 9)]      // the first one counts
    [InlineData(new[] { -257, -246, 16 }, 6)]     // neighbours of the range are not levels
    public void The_zlib_level_is_the_clients_compress_level(int[] encodings, int level) =>
        Assert.Equal(level, new ClientEncodings(encodings).CompressLevel);

    [Theory]
    [InlineData(32, 24, 255, 16, 8, 0, 3)] // the usual: low three bytes
    [InlineData(32, 24, 255, 24, 16, 8, 3)] // high three bytes
    [InlineData(32, 32, 255, 16, 8, 0, 4)] // depth over 24
    [InlineData(32, 24, 255, 0, 12, 24, 4)] // bits in all four bytes
    [InlineData(16, 16, 31, 11, 5, 0, 2)]
    public void Zrle_compact_pixels_follow_the_rule(int bpp, int depth, int max, int redShift, int greenShift, int blueShift, int expected)
    {
        var format = new RfbPixelFormat((byte)bpp, (byte)depth, false, true, (ushort)max, (ushort)max, (ushort)max, (byte)redShift, (byte)greenShift, (byte)blueShift);
        Assert.Equal(expected, new RfbPixelConverter(format).BytesPerCompactPixel);
    }

    [Fact]
    public void Tight_pixels_are_red_green_blue_whatever_the_shifts()
    {
        var converter = new RfbPixelConverter(new RfbPixelFormat(32, 24, true, true, 255, 255, 255, 0, 8, 16));
        var bytes = new byte[3];

        converter.WriteTightPixel(converter.ToClient(0x00112233), bytes);

        Assert.Equal(3, converter.BytesPerTightPixel);
        Assert.Equal(new byte[] { 0x11, 0x22, 0x33 }, bytes);
    }

    [Fact]
    public void A_channel_is_scaled_to_its_max_with_rounding()
    {
        var converter = new RfbPixelConverter(new RfbPixelFormat(16, 16, false, true, 31, 63, 31, 11, 5, 0));
        Assert.Equal(0xFFFFu, converter.ToClient(0x00FFFFFF));
        Assert.Equal(0u, converter.ToClient(0xFF000000)); // the X byte is ignored
        Assert.Equal((16u << 11) | (32u << 5) | 16u, converter.ToClient(0x00808080));
    }

    [Theory]
    [InlineData(0x00u, 0x00u)]
    [InlineData(0x7Fu, 0x7Fu)]
    [InlineData(0x80u, 0xE000u)]
    [InlineData(0xC6u, 0xE046u)] // Pause, as QEMU sends it
    [InlineData(0x100u, 0u)]
    public void Qemu_keycodes_become_set_one_scancodes(uint keycode, uint scancode) =>
        Assert.Equal(scancode, Sharpvisor.Display.Rfb.RfbClientSession.ToScancode(keycode));
}
