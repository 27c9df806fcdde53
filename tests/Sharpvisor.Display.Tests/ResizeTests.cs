using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>A framebuffer that changes size: DesktopSize, ExtendedDesktopSize, and clients that know neither.</summary>
public sealed class ResizeTests
{
    [Fact]
    public async Task A_desktop_size_client_gets_the_new_size_alone_then_every_pixel()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Zrle, RfbEncodings.DesktopSize);

        server.Framebuffer.Resize(120, 50);
        server.WriteRandom(new Rect(0, 0, 120, 50), seed: 1);
        await client.RequestUpdateAsync(incremental: true);
        var resize = await client.ReadUpdateAsync();

        Assert.Equal([new ReceivedRect(0, 0, 120, 50, RfbEncodings.DesktopSize)], resize);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task An_extended_desktop_size_client_gets_the_extended_rectangle_only()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw, RfbEncodings.DesktopSize, RfbEncodings.ExtendedDesktopSize);
        client.SizeAnnouncements.Clear();

        server.Framebuffer.Resize(64, 100);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();

        Assert.Equal([new ReceivedRect(0, 0, 64, 100, RfbEncodings.ExtendedDesktopSize)], client.SizeAnnouncements);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_non_incremental_request_is_answered_with_the_extended_size_first()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.SetEncodingsAsync(RfbEncodings.Raw, RfbEncodings.ExtendedDesktopSize);

        await client.RequestUpdateAsync(incremental: false);
        var first = await client.ReadUpdateAsync();

        Assert.Equal([new ReceivedRect(0, 0, 80, 60, RfbEncodings.ExtendedDesktopSize)], first);
        await client.RequestUpdateAsync(incremental: true);
        var pixels = await client.ReadUpdateAsync();
        Assert.All(pixels, r => Assert.Equal(RfbEncodings.Raw, r.Encoding));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task Set_desktop_size_is_answered_prohibited()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw, RfbEncodings.ExtendedDesktopSize);
        client.SizeAnnouncements.Clear();

        await client.SetDesktopSizeAsync(1024, 768);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();

        Assert.Equal([new ReceivedRect(1, 1, 80, 60, RfbEncodings.ExtendedDesktopSize)], client.SizeAnnouncements);
        Assert.Equal((80, 60), (client.Width, client.Height));
    }

    [Fact]
    public async Task A_client_that_cannot_resize_keeps_its_size_and_sees_the_picture_clipped_or_black()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        server.Framebuffer.Resize(50, 100);
        server.WriteRandom(new Rect(0, 0, 50, 100), seed: 2);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();

        Assert.Equal((80, 60), (client.Width, client.Height));
        var expected = new byte[50 * 100 * 4];
        _ = server.Framebuffer.CopyTo(new Rect(0, 0, 50, 100), expected, 50 * 4);
        for (var y = 0; y < 60; y++)
        {
            for (var x = 0; x < 80; x++)
            {
                var xrgb = x < 50 ? BitConverter.ToUInt32(expected, ((y * 50) + x) * 4) : 0;
                Assert.Equal(client.Format.Expected(xrgb), client.Pixels[(y * 80) + x]);
            }
        }
    }

    [Fact]
    public async Task A_resize_back_to_the_client_size_sends_no_size_but_all_pixels()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw, RfbEncodings.DesktopSize);
        server.Framebuffer.Resize(30, 30);
        server.Framebuffer.Resize(80, 60);

        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.DoesNotContain(rects, r => r.Encoding == RfbEncodings.DesktopSize);
        Assert.Null(client.Mismatch(server.Framebuffer));
    }
}
