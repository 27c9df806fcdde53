using System.Diagnostics;
using System.Net.Sockets;
using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;
using Sharpvisor.Display.Tests.Support;

namespace Sharpvisor.Display.Tests;

/// <summary>Starting several listeners, and stopping everything promptly.</summary>
public sealed class LifetimeTests
{
    [Fact]
    public async Task Dispose_closes_clients_and_listeners_promptly()
    {
        var server = TestServer.Start();
        await using var ready = await server.ConnectReadyAsync(RfbEncodings.Raw);
        await using var handshaking = await server.ConnectAsync();

        var stopwatch = Stopwatch.StartNew();
        await server.DisposeAsync();

        Assert.True(stopwatch.Elapsed < RfbServer.StopTimeout, $"took {stopwatch.Elapsed}");
        await ready.WaitForCloseAsync();
        await handshaking.WaitForCloseAsync();
        _ = await Assert.ThrowsAnyAsync<SocketException>(() => RfbTestClient.ConnectAsync(server.EndPoint));
        Assert.Equal(0, server.Server.ClientCount);
    }

    [Fact]
    public async Task One_server_serves_a_unix_and_a_tcp_listener_at_once()
    {
        await using var server = TestServer.Start(50, 40);
        var tcp = server.Server.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        server.WriteRandom(new Rect(0, 0, 50, 40), seed: 1);

        await using var overUnix = await server.ConnectReadyAsync(RfbEncodings.Zrle);
        await using var overTcp = await RfbTestClient.ConnectAsync(tcp);
        await overTcp.HandshakeAsync();
        await overTcp.SetEncodingsAsync(RfbEncodings.Tight);
        await overTcp.RequestUpdateAsync(incremental: false);
        _ = await overTcp.ReadUpdateAsync();

        Assert.Null(overUnix.Mismatch(server.Framebuffer));
        Assert.Null(overTcp.Mismatch(server.Framebuffer));
    }

    [Fact]
    public async Task A_unix_socket_file_made_by_start_is_removed_on_dispose()
    {
        var path = TestServer.SocketPath();
        var server = new RfbServer(new Framebuffer(8, 8), new RecordingInput());
        _ = server.Start(new UnixDomainSocketEndPoint(path));
        Assert.True(File.Exists(path));

        await server.DisposeAsync();

        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task Cancelling_serve_async_ends_that_client()
    {
        await using var server = TestServer.Start(16, 16);
        var path = TestServer.SocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var connecting = RfbTestClient.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await listener.AcceptAsync().WaitAsync(RfbTestClient.Ceiling);
        using var cancel = new CancellationTokenSource();
        var served = server.Server.ServeAsync(new NetworkStream(accepted, ownsSocket: true), cancel.Token);
        await using var client = await connecting;
        await client.HandshakeAsync();

        await cancel.CancelAsync();

        await served.WaitAsync(RfbTestClient.Ceiling);
        await client.WaitForCloseAsync();
        File.Delete(path);
    }

    [Fact]
    public async Task A_stream_that_fails_to_close_still_ends_its_session_and_frees_its_place()
    {
        await using var server = TestServer.Start(16, 16, options: log => new RfbServerOptions { Log = log, MaxClients = 1 });
        var path = TestServer.SocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var connecting = RfbTestClient.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await listener.AcceptAsync().WaitAsync(RfbTestClient.Ceiling);
        var served = server.Server.ServeAsync(new FailingCloseStream(new NetworkStream(accepted, ownsSocket: true)));
        await using (var client = await connecting)
        {
            await client.HandshakeAsync();
        }

        await served.WaitAsync(RfbTestClient.Ceiling);
        Assert.Equal(0, server.Server.ClientCount);
        await using var next = await server.ConnectAsync();
        await next.HandshakeAsync(); // the one place is free again
        File.Delete(path);
    }
}
