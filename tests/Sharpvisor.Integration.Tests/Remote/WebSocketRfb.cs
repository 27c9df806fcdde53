using System.Buffers.Binary;
using System.Net.WebSockets;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Just enough of an RFB client, over the manager's VNC WebSocket, to prove the bytes pass both ways: the handshake
/// with security type None, ServerInit's size, one full Raw update and a pixel of it.
/// </summary>
internal sealed class WebSocketRfb(ClientWebSocket socket) : IAsyncDisposable
{
    private readonly List<byte> _pending = [];

    public static async Task<WebSocketRfb> ConnectAsync(Uri uri, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("binary"); // as noVNC asks
        await socket.ConnectAsync(uri, cancellationToken);
        Assert.Equal("binary", socket.SubProtocol);
        return new WebSocketRfb(socket);
    }

    /// <summary>Handshakes (3.8, None, shared) and returns ServerInit's width and height.</summary>
    public async Task<(int Width, int Height)> HandshakeAsync(CancellationToken cancellationToken)
    {
        Assert.Equal("RFB 003.008\n", System.Text.Encoding.ASCII.GetString(await ReadAsync(12, cancellationToken)));
        await SendAsync("RFB 003.008\n"u8.ToArray(), cancellationToken);
        var count = (await ReadAsync(1, cancellationToken))[0];
        Assert.Contains((byte)1, await ReadAsync(count, cancellationToken)); // None: the socket behind is the VM's own
        await SendAsync([1], cancellationToken);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(await ReadAsync(4, cancellationToken)));
        await SendAsync([1], cancellationToken); // ClientInit, shared
        var init = await ReadAsync(24, cancellationToken);
        await ReadAsync((int)BinaryPrimitives.ReadUInt32BigEndian(init.AsSpan(20)), cancellationToken); // the name
        return (BinaryPrimitives.ReadUInt16BigEndian(init), BinaryPrimitives.ReadUInt16BigEndian(init.AsSpan(2)));
    }

    /// <summary>Asks for the whole screen in Raw and returns its pixels (32 bpp little-endian B, G, R, X, the server's format).</summary>
    public async Task<byte[]> FullUpdateAsync(int width, int height, CancellationToken cancellationToken)
    {
        await SendAsync([2, 0, 0, 1, 0, 0, 0, 0], cancellationToken); // SetEncodings: Raw only
        var request = new byte[10];
        request[0] = 3; // FramebufferUpdateRequest, not incremental
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)width);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(8), (ushort)height);
        await SendAsync(request, cancellationToken);
        var screen = new byte[width * height * 4];
        var header = await ReadAsync(4, cancellationToken);
        Assert.Equal(0, header[0]); // FramebufferUpdate
        for (var r = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)); r > 0; r--)
        {
            var rect = await ReadAsync(12, cancellationToken);
            var (x, y, w, h) = (BinaryPrimitives.ReadUInt16BigEndian(rect), BinaryPrimitives.ReadUInt16BigEndian(rect.AsSpan(2)),
                BinaryPrimitives.ReadUInt16BigEndian(rect.AsSpan(4)), BinaryPrimitives.ReadUInt16BigEndian(rect.AsSpan(6)));
            Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(rect.AsSpan(8))); // Raw
            var pixels = await ReadAsync(w * h * 4, cancellationToken);
            for (var row = 0; row < h; row++)
            {
                pixels.AsSpan(row * w * 4, w * 4).CopyTo(screen.AsSpan((((y + row) * width) + x) * 4));
            }
        }

        return screen;
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, closing.Token);
        }

        socket.Dispose();
    }

    private Task SendAsync(byte[] bytes, CancellationToken cancellationToken) =>
        socket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);

    private async Task<byte[]> ReadAsync(int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (_pending.Count < count)
        {
            var received = await socket.ReceiveAsync(buffer, cancellationToken);
            Assert.True(received.MessageType != WebSocketMessageType.Close, $"the WebSocket closed with {_pending.Count} of {count} bytes read");
            _pending.AddRange(buffer.AsSpan(0, received.Count));
        }

        var bytes = _pending.GetRange(0, count).ToArray();
        _pending.RemoveRange(0, count);
        return bytes;
    }
}
