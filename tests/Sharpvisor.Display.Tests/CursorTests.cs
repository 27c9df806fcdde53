using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>The device's pointer image reaches clients that asked for the Cursor pseudo-encoding.</summary>
public sealed class CursorTests
{
    [Theory]
    [InlineData(32)]
    [InlineData(16)]
    public async Task A_cursor_set_on_the_framebuffer_reaches_the_client_with_its_mask(int bitsPerPixel)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        var format = bitsPerPixel == 32 ? TestPixelFormat.Rgb888 : TestPixelFormat.Rgb565;
        await client.SetPixelFormatAsync(format);
        await client.SetEncodingsAsync(RfbEncodings.Raw, RfbEncodings.Cursor);
        await client.RequestUpdateAsync(incremental: false);
        _ = await client.ReadUpdateAsync();

        // 10 by 3: alpha 0xFF on the left half, 0x00 on the right; colours from the position.
        var pixels = new byte[10 * 3 * 4];
        for (var i = 0; i < 30; i++)
        {
            BitConverter.GetBytes((i % 10 < 5 ? 0xFF00_0000u : 0u) | (uint)(i * 0x010307)).CopyTo(pixels, i * 4);
        }

        server.Framebuffer.SetCursor(new DisplayCursor(10, 3, 4, 1, pixels));
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();

        var cursor = Assert.IsType<ReceivedCursor>(client.Cursor);
        Assert.Equal((4, 1, 10, 3), (cursor.HotspotX, cursor.HotspotY, cursor.Width, cursor.Height));
        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(i % 10 < 5, cursor.Visible[i]);
            Assert.Equal(format.Expected((uint)(i * 0x010307)), cursor.Pixels[i]);
        }
    }

    [Fact]
    public async Task A_hidden_cursor_is_an_empty_cursor_rectangle()
    {
        await using var server = TestServer.Start();
        server.Framebuffer.SetCursor(new DisplayCursor(1, 1, 0, 0, new byte[4]));
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw, RfbEncodings.Cursor);
        Assert.NotNull(client.Cursor);

        server.Framebuffer.SetCursor(null);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();

        Assert.True(client.CursorHidden);
    }

    [Fact]
    public async Task A_client_without_the_cursor_encoding_gets_no_cursor()
    {
        await using var server = TestServer.Start();
        server.Framebuffer.SetCursor(new DisplayCursor(1, 1, 0, 0, new byte[4]));
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        Assert.Null(client.Cursor);
    }
}
