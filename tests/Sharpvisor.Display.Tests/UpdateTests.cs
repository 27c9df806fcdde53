using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>Which pixels an update carries, and when it is sent.</summary>
public sealed class UpdateTests
{
    [Fact]
    public async Task An_incremental_update_carries_only_the_damaged_pixels()
    {
        await using var server = TestServer.Start(120, 90);
        server.WriteRandom(new Rect(0, 0, 120, 90), seed: 1);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        var damaged = new Rect(30, 40, 17, 9);
        server.WriteRandom(damaged, seed: 2);
        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.Equal([damaged], rects.Select(r => r.Area));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task An_incremental_request_waits_for_damage_and_then_gets_it()
    {
        await using var server = TestServer.Start(64, 64);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Zrle);

        // Nothing changed: the request waits. Were it answered now, the update read below would be empty.
        await client.RequestUpdateAsync(incremental: true);
        await client.PointerAsync(0, 1, 1);
        _ = await server.Input.NextAsync(); // the server has read the request by now
        var damaged = new Rect(5, 6, 7, 8);
        server.WriteRandom(damaged, seed: 3);

        var rects = await client.ReadUpdateAsync();

        Assert.Equal([damaged], rects.Select(r => r.Area));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task An_incremental_request_takes_the_damage_inside_it_and_leaves_the_rest_for_later()
    {
        await using var server = TestServer.Start(100, 100);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);
        server.WriteRandom(new Rect(0, 0, 100, 100), seed: 4);

        await client.RequestUpdateAsync(incremental: true, new Rect(0, 0, 50, 100));
        var left = await client.ReadUpdateAsync();
        await client.RequestUpdateAsync(incremental: true);
        var right = await client.ReadUpdateAsync();

        Assert.All(left, r => Assert.True(r.X + r.Width <= 50));
        Assert.All(right, r => Assert.True(r.X >= 50));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_non_incremental_request_sends_its_area_even_unchanged()
    {
        await using var server = TestServer.Start(80, 60);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Tight);

        var area = new Rect(10, 10, 30, 20);
        await client.RequestUpdateAsync(incremental: false, area);
        var rects = await client.ReadUpdateAsync();

        Assert.Equal([area], rects.Select(r => r.Area));
    }

    [Fact]
    public async Task A_non_incremental_request_outside_the_screen_gets_an_empty_update()
    {
        await using var server = TestServer.Start(50, 40);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await client.RequestUpdateAsync(incremental: false, new Rect(60000, 60000, 65535, 65535));

        Assert.Empty(await client.ReadUpdateAsync());
    }

    [Fact]
    public async Task Many_small_writes_merge_into_a_bounded_number_of_rectangles()
    {
        await using var server = TestServer.Start(200, 200);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);
        for (var i = 0; i < 500; i++)
        {
            server.Framebuffer.Fill(new Rect((i * 37) % 190, (i * 53) % 190, 3, 3), (uint)(i * 7919));
        }

        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.InRange(rects.Count, 1, 16 * 4); // at most 16 damage rectangles, each banded by 64 rows
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Theory]
    [InlineData(RfbEncodings.Raw)]
    [InlineData(RfbEncodings.Zrle)]
    public async Task A_move_reaches_a_copyrect_client_as_a_copy(int encoding)
    {
        await using var server = TestServer.Start(100, 80);
        server.WriteRandom(new Rect(0, 0, 100, 80), seed: 5);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.CopyRect, encoding);

        server.Framebuffer.Move(new Rect(0, 10, 100, 60), 0, 0); // a scroll up by 10 rows
        server.WriteRandom(new Rect(0, 60, 100, 20), seed: 6); // the new rows
        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.Equal(new Rect(0, 0, 100, 60), Assert.Single(rects, r => r.Encoding == RfbEncodings.CopyRect).Area);
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_move_reaches_a_client_without_copyrect_as_pixels()
    {
        await using var server = TestServer.Start(100, 80);
        server.WriteRandom(new Rect(0, 0, 100, 80), seed: 7);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        server.Framebuffer.Move(new Rect(20, 20, 30, 30), 50, 40);
        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.DoesNotContain(rects, r => r.Encoding == RfbEncodings.CopyRect);
        Assert.Equal([new Rect(50, 40, 30, 30)], rects.Select(r => r.Area));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_move_of_pixels_the_client_has_not_got_yet_is_sent_as_pixels()
    {
        await using var server = TestServer.Start(100, 80);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.CopyRect, RfbEncodings.Raw);

        server.WriteRandom(new Rect(0, 0, 40, 40), seed: 8); // pending, not sent
        server.Framebuffer.Move(new Rect(0, 0, 40, 40), 50, 30);
        await client.RequestUpdateAsync(incremental: true);
        var rects = await client.ReadUpdateAsync();

        Assert.DoesNotContain(rects, r => r.Encoding == RfbEncodings.CopyRect);
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task Two_clients_on_one_head_both_get_the_pixels()
    {
        await using var server = TestServer.Start(90, 70);
        await using var first = await server.ConnectReadyAsync(RfbEncodings.Zrle);
        await using var second = await server.ConnectReadyAsync(RfbEncodings.Tight);

        server.WriteRandom(new Rect(11, 12, 50, 40), seed: 9);
        await first.RequestUpdateAsync(incremental: true);
        await second.RequestUpdateAsync(incremental: true);
        _ = await first.ReadUpdateAsync();
        _ = await second.ReadUpdateAsync();

        Assert.Null(first.Mismatch(server.Framebuffer));
        Assert.Null(second.Mismatch(server.Framebuffer));
    }
}
