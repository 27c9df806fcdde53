using System.Net.Sockets;
using System.Text;
using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>The handshake with security type None, for each protocol version a client may answer with.</summary>
public sealed class HandshakeTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(7)]
    [InlineData(3)]
    public async Task A_client_of_each_version_gets_the_framebuffer_and_the_default_format(int minor)
    {
        await using var server = TestServer.Start(100, 80);
        server.WriteRandom(new Rect(0, 0, 100, 80), seed: 1);
        await using var client = await server.ConnectAsync();

        await client.HandshakeAsync(minor: minor);

        Assert.Equal((100, 80), (client.Width, client.Height));
        Assert.Equal("test vm", client.Name);
        Assert.Equal(TestPixelFormat.Rgb888, client.ServerFormat);
        await client.RequestUpdateAsync(incremental: false);
        _ = await client.ReadUpdateAsync();
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task Over_loopback_tcp_the_same()
    {
        await using var server = TestServer.Start(64, 48, tcp: true);
        server.WriteRandom(new Rect(0, 0, 64, 48), seed: 2);
        await using var client = await server.ConnectReadyAsync(RfbEncodings.Raw);
        Assert.Null(client.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_stream_handed_to_ServeAsync_is_served_and_the_task_ends_with_the_client()
    {
        await using var server = TestServer.Start(32, 32);
        var path = TestServer.SocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var clientTask = RfbTestClient.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await listener.AcceptAsync().WaitAsync(RfbTestClient.Ceiling);
        var served = server.Server.ServeAsync(new NetworkStream(accepted, ownsSocket: true));
        var client = await clientTask;

        await client.HandshakeAsync();
        await client.RequestUpdateAsync(incremental: false);
        _ = await client.ReadUpdateAsync();
        Assert.Null(client.Mismatch(server.Framebuffer));
        await client.DisposeAsync();

        await served.WaitAsync(RfbTestClient.Ceiling);
        File.Delete(path);
    }

    [Theory]
    [InlineData("RFB 004.000\n")]
    [InlineData("HTTP/1.1 200")]
    public async Task A_foreign_version_is_dropped(string version)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAsync();
        await client.WriteAsync(Encoding.ASCII.GetBytes(version));
        await client.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("version");
    }

    [Fact]
    public async Task Past_the_client_limit_a_client_is_refused_with_a_reason()
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, MaxClients = 1 });
        await using var first = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var second = await server.ConnectAsync();

        var refused = await Assert.ThrowsAsync<RfbRefusedException>(() => second.HandshakeAsync());

        Assert.Contains("too many clients", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_silent_in_the_handshake_is_dropped_at_the_deadline()
    {
        await using var server = TestServer.Start(options: log => new RfbServerOptions { Log = log, HandshakeTimeout = TimeSpan.FromMilliseconds(200) });
        await using var client = await server.ConnectAsync();
        await client.WaitForCloseAsync();
        _ = await server.Log.WaitForAsync("handshake took longer");
    }
}
