using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>Every encoding carries exact pixels, in every pixel format a client may ask for, for every kind of picture.</summary>
public sealed class EncodingTests
{
    public static TheoryData<int, string, string> Cases()
    {
        var data = new TheoryData<int, string, string>();
        foreach (var encoding in new[] { RfbEncodings.Raw, RfbEncodings.Zrle, RfbEncodings.Tight })
        {
            foreach (var format in Formats.Keys)
            {
                foreach (var content in Content.Names)
                {
                    data.Add(encoding, format, content);
                }
            }
        }

        return data;
    }

    private static readonly Dictionary<string, TestPixelFormat> Formats = new()
    {
        ["rgb888"] = TestPixelFormat.Rgb888,
        ["bgr888-be"] = TestPixelFormat.Bgr888BigEndian,
        ["rgb888-depth32"] = TestPixelFormat.Rgb888 with { Depth = 32 },
        ["rgb888-high-bytes"] = TestPixelFormat.Rgb888 with { RedShift = 24, GreenShift = 16, BlueShift = 8 },
        ["rgb565"] = TestPixelFormat.Rgb565,
        ["rgb565-be"] = TestPixelFormat.Rgb565BigEndian,
        ["rgb332"] = TestPixelFormat.Rgb332,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Pixels_round_trip_exactly(int encoding, string format, string content)
    {
        // 150 by 100 leaves partial ZRLE tiles at the right and the bottom.
        await using var server = TestServer.Start(150, 100);
        server.WritePattern(new Rect(0, 0, 150, 100), Content.Pattern(content, 150, seed: 7));
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.SetPixelFormatAsync(Formats[format]);
        await client.SetEncodingsAsync(encoding);

        await client.RequestUpdateAsync(incremental: false);
        var rects = await client.ReadUpdateAsync();

        Assert.All(rects, rect => Assert.Equal(encoding, rect.Encoding));
        Assert.Null(client.Mismatch(server.Framebuffer));

        // A second picture through the same (zlib) streams.
        server.WritePattern(new Rect(10, 20, 120, 70), Content.Pattern(content, 120, seed: 8));
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdateAsync();
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task Zrle_takes_each_of_its_tile_kinds_and_keeps_one_stream()
    {
        await using var server = TestServer.Start(200, 130);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Zrle);
        foreach (var (content, i) in Content.Names.Select((c, i) => (c, i)))
        {
            server.WritePattern(new Rect(0, 0, 200, 130), Content.Pattern(content, 200, seed: i));
            await client.RequestUpdateAsync(incremental: true);
            _ = await client.ReadUpdateAsync();
            Assert.Null(client.Mismatch(server.Framebuffer));
        }

        Assert.Equal(["zrle:packed", "zrle:palette-rle", "zrle:plain-rle", "zrle:raw", "zrle:solid"], client.Paths.Order());
    }

    [Fact]
    public async Task Tight_takes_fill_copy_and_both_palette_forms()
    {
        await using var server = TestServer.Start(200, 130);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Tight);
        foreach (var (content, i) in Content.Names.Select((c, i) => (c, i)))
        {
            server.WritePattern(new Rect(0, 0, 200, 130), Content.Pattern(content, 200, seed: i));
            await client.RequestUpdateAsync(incremental: true);
            _ = await client.ReadUpdateAsync();
            Assert.Null(client.Mismatch(server.Framebuffer));
        }

        Assert.Equal(["tight:copy", "tight:fill", "tight:mono", "tight:palette"], client.Paths.Order());
    }

    [Theory]
    [InlineData(RfbEncodings.Raw)]
    [InlineData(RfbEncodings.Zrle)]
    [InlineData(RfbEncodings.Tight)]
    public async Task A_framebuffer_wider_than_tight_allows_is_sent_in_pieces(int encoding)
    {
        await using var server = TestServer.Start(2100, 70);
        server.WriteRandom(new Rect(0, 0, 2100, 70), seed: 3);
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.SetEncodingsAsync(encoding);
        await client.RequestUpdateAsync(incremental: false);

        var rects = await client.ReadUpdateAsync();

        Assert.True(rects.Count > 1);
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task The_first_encoding_the_client_lists_that_the_server_has_wins()
    {
        await using var server = TestServer.Start(40, 30);
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.SetEncodingsAsync(5 /* Hextile */, -32, RfbEncodings.Tight, RfbEncodings.Zrle, RfbEncodings.Raw);
        await client.RequestUpdateAsync(incremental: false);

        var rects = await client.ReadUpdateAsync();

        Assert.All(rects, rect => Assert.Equal(RfbEncodings.Tight, rect.Encoding));
    }

    [Fact]
    public async Task Without_set_encodings_raw_is_sent()
    {
        await using var server = TestServer.Start(40, 30);
        server.WriteRandom(new Rect(0, 0, 40, 30), seed: 4);
        await using var client = await server.ConnectAsync();
        await client.HandshakeAsync();
        await client.RequestUpdateAsync(incremental: false);

        var rects = await client.ReadUpdateAsync();

        Assert.All(rects, rect => Assert.Equal(RfbEncodings.Raw, rect.Encoding));
        Assert.Null(client.Mismatch(server.Framebuffer));
    }
}
