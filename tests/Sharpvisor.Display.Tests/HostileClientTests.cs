using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>
/// A client that breaks the protocol loses its own connection, with one log line, while another client on the same
/// head goes on getting updates.
/// </summary>
public sealed class HostileClientTests
{
    public static TheoryData<string, byte[], string> Messages() => new()
    {
        { "unknown type", [77, 1, 2, 3], "unknown message type 77" },
        { "unknown QEMU subtype", [255, 9, 0, 0], "unknown QEMU client message subtype 9" },
        { "huge SetEncodings", [2, 0, 0xFF, 0xFF], "SetEncodings lists 65535 encodings" },
        { "huge cut text", [6, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF], "ClientCutText of 2147483647 bytes" },
        { "colour map", [0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "colour-map pixel formats are not supported" },
        { "24 bpp", [0, 0, 0, 0, 24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0], "24 bits per pixel" },
        { "channel beyond the pixel", [0, 0, 0, 0, 16, 16, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0], "does not fit 16 bits" },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public async Task A_malformed_message_drops_only_its_client(string what, byte[] message, string logged)
    {
        _ = what;
        await using var server = TestServer.Start(64, 48);
        await using var good = await server.ConnectReadyAsync(RfbEncodings.Zrle);
        await using var bad = await server.ConnectReadyAsync(RfbEncodings.Zrle);

        await bad.WriteAsync(message);

        await bad.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync(logged);
        await StillServedAsync(server, good);
    }

    [Fact]
    public async Task Set_encodings_at_the_limit_is_accepted()
    {
        await using var server = TestServer.Start(32, 32);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await client.SetEncodingsAsync([.. Enumerable.Repeat(12345, 1023), RfbEncodings.Zrle]);
        await client.RequestUpdateAsync(incremental: false);

        Assert.All(await client.ReadUpdateAsync(), r => Assert.Equal(RfbEncodings.Zrle, r.Encoding));
    }

    [Fact]
    public async Task A_connection_closed_mid_message_drops_only_its_client()
    {
        await using var server = TestServer.Start(64, 48);
        await using var good = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var bad = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await bad.WriteAsync([3, 1, 0, 0]); // a FramebufferUpdateRequest's first 4 of 10 bytes
        bad.ShutdownSend();

        await bad.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("in the middle of a message");
        await StillServedAsync(server, good);
    }

    [Fact]
    public async Task A_message_that_stalls_half_way_drops_its_client_at_the_deadline()
    {
        await using var server = TestServer.Start(64, 48, options: log => new RfbServerOptions { Log = log, MessageTimeout = TimeSpan.FromMilliseconds(200) });
        await using var good = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var bad = await server.ConnectReadyAsync(RfbEncodings.Raw);

        await bad.WriteAsync([2, 0, 0, 5, 0, 0]); // SetEncodings promising 5 entries, giving half of one

        await bad.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("took longer than");
        await StillServedAsync(server, good);
    }

    [Fact]
    public async Task A_client_that_never_reads_delays_neither_the_writer_nor_the_other_clients()
    {
        await using var server = TestServer.Start(640, 400);
        await using var good = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var stuck = await server.ConnectAsync();
        await stuck.HandshakeAsync();
        await stuck.SetEncodingsAsync(RfbEncodings.Raw);

        // 1 MiB of raw pixels per full update, far beyond the socket buffers, never read.
        for (var i = 0; i < 3; i++)
        {
            await stuck.RequestUpdateAsync(incremental: false);
            server.WriteRandom(new Rect(0, 0, 640, 400), seed: i);
        }

        await StillServedAsync(server, good);
    }

    [Fact]
    public async Task A_slow_client_past_the_write_deadline_is_dropped()
    {
        await using var server = TestServer.Start(640, 400, options: log => new RfbServerOptions { Log = log, WriteTimeout = TimeSpan.FromMilliseconds(200) });
        await using var stuck = await server.ConnectAsync();
        await stuck.HandshakeAsync();
        await stuck.SetEncodingsAsync(RfbEncodings.Raw);
        server.WriteRandom(new Rect(0, 0, 640, 400), seed: 1);
        await stuck.RequestUpdateAsync(incremental: false);

        _ = await server.Log.WaitForAsync("did not read an update");
    }

    /// <summary>The framebuffer changes and <paramref name="client"/> gets exactly the new picture.</summary>
    private static async Task StillServedAsync(TestServer server, RfbTestClient client)
    {
        var (width, height) = server.Framebuffer.Size;
        server.WriteRandom(new Rect(0, 0, width, height), seed: 99);
        await client.RequestUpdateAsync(incremental: true);
        _ = await client.ReadUpdatesUntilAsync(_ => client.Mismatch(server.Framebuffer) is null);
    }
}
