using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Sharpvisor.Display.Rfb;
using Sharpvisor.Display.Tests.Client;

namespace Sharpvisor.Display.Tests.Support;

/// <summary>A framebuffer, its RFB server listening on a fresh unix socket (or loopback TCP), the input and the log.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(Framebuffer framebuffer, RfbServer server, RecordingInput input, LogSink log, EndPoint endPoint)
    {
        Framebuffer = framebuffer;
        Server = server;
        Input = input;
        Log = log;
        EndPoint = endPoint;
    }

    public Framebuffer Framebuffer { get; }

    public RfbServer Server { get; }

    public RecordingInput Input { get; }

    public LogSink Log { get; }

    public EndPoint EndPoint { get; }

    /// <summary>Starts a server; <paramref name="options"/> gets the log to pass on.</summary>
    public static TestServer Start(int width = 100, int height = 80, Func<Action<string>, RfbServerOptions>? options = null, bool tcp = false)
    {
        var framebuffer = new Framebuffer(width, height);
        var input = new RecordingInput();
        var log = new LogSink();
        var server = new RfbServer(framebuffer, input, options?.Invoke(log.Add) ?? new RfbServerOptions { Log = log.Add, DesktopName = "test vm" });
        var endPoint = server.Start(tcp ? new IPEndPoint(IPAddress.Loopback, 0) : new UnixDomainSocketEndPoint(SocketPath()));
        return new TestServer(framebuffer, server, input, log, endPoint);
    }

    public static string SocketPath() => Path.Combine(Path.GetTempPath(), $"sv-rfb-{Guid.NewGuid():N}.sock");

    public Task<RfbTestClient> ConnectAsync() => RfbTestClient.ConnectAsync(EndPoint);

    /// <summary>A client past the handshake (None), asking for <paramref name="encodings"/>, holding the whole picture.</summary>
    public async Task<RfbTestClient> ConnectReadyAsync(params int[] encodings)
    {
        var client = await ConnectAsync();
        await client.HandshakeAsync();
        await client.SetEncodingsAsync(encodings);
        await client.RequestUpdateAsync(incremental: false);
        _ = await client.ReadUpdatesUntilAsync(rects => rects.Any(r => r.Encoding >= 0));
        return client;
    }

    /// <summary>Writes random pixels over <paramref name="area"/>.</summary>
    public void WriteRandom(Rect area, int seed)
    {
        var bytes = new byte[area.Width * area.Height * 4];
        new Random(seed).NextBytes(bytes);
        Framebuffer.Write(area, bytes, area.Width * 4);
    }

    /// <summary>Writes pixels from <paramref name="pixel"/>(x, y) over <paramref name="area"/>.</summary>
    public void WritePattern(Rect area, Func<int, int, uint> pixel)
    {
        var bytes = new byte[area.Width * area.Height * 4];
        for (var y = 0; y < area.Height; y++)
        {
            for (var x = 0; x < area.Width; x++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(((y * area.Width) + x) * 4), pixel(x, y));
            }
        }

        Framebuffer.Write(area, bytes, area.Width * 4);
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
