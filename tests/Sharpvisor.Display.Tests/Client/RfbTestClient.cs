using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Display.Tests.Client;

/// <summary>
/// An RFB client for the tests, written from the specification and nothing of the server's: it speaks the handshake,
/// sends every client message (well-formed or not) and decodes what the server sends into its own copy of the picture
/// (client pixel values), remembering which decoding paths it took. Every wait is bounded by <see cref="Ceiling"/>.
/// </summary>
internal sealed partial class RfbTestClient : IAsyncDisposable
{
    public static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(30);

    private readonly Socket? _socket;
    private readonly Stream _stream;

    public RfbTestClient(Stream stream, Socket? socket = null)
    {
        _stream = stream;
        _socket = socket;
    }

    public int Width { get; private set; }

    public int Height { get; private set; }

    public string Name { get; private set; } = "";

    public TestPixelFormat ServerFormat { get; private set; } = TestPixelFormat.Rgb888;

    public TestPixelFormat Format { get; private set; } = TestPixelFormat.Rgb888;

    /// <summary>The picture as the client holds it: one client pixel value each, rows packed.</summary>
    public uint[] Pixels { get; private set; } = [];

    public ReceivedCursor? Cursor { get; private set; }

    public bool CursorHidden { get; private set; }

    public bool KeyEventAcknowledged { get; private set; }

    /// <summary>DesktopSize / ExtendedDesktopSize rectangles in the order received.</summary>
    public List<ReceivedRect> SizeAnnouncements { get; } = [];

    /// <summary>Decoding paths taken, e.g. "zrle:solid", "tight:palette".</summary>
    public HashSet<string> Paths { get; } = [];

    public static async Task<RfbTestClient> ConnectAsync(EndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(Ceiling);
        return new RfbTestClient(new NetworkStream(socket, ownsSocket: true), socket);
    }

    /// <summary>Runs the handshake as a client of version 3.<paramref name="minor"/>; a refusal is an <see cref="RfbRefusedException"/>.</summary>
    public async Task HandshakeAsync(string? password = null, bool shared = true, int minor = 8)
    {
        var version = Encoding.ASCII.GetString(await ReadAsync(12));
        Assert.Equal("RFB 003.008\n", version);
        await WriteAsync(Encoding.ASCII.GetBytes($"RFB 003.{minor:000}\n"));

        int type;
        if (minor == 3)
        {
            type = (int)await ReadU32Async();
            if (type == 0)
            {
                throw new RfbRefusedException(await ReadStringAsync());
            }
        }
        else
        {
            var count = await ReadU8Async();
            if (count == 0)
            {
                throw new RfbRefusedException(await ReadStringAsync());
            }

            var types = await ReadAsync(count);
            type = types[0];
            await WriteAsync([(byte)type]);
        }

        if (type == 2)
        {
            var challenge = await ReadAsync(16);
            await WriteAsync(VncResponse(password ?? "", challenge));
        }

        if (type == 2 || minor == 8)
        {
            var result = await ReadU32Async();
            if (result != 0)
            {
                throw new RfbRefusedException(minor == 8 ? await ReadStringAsync() : "");
            }
        }

        await WriteAsync([(byte)(shared ? 1 : 0)]);
        var init = await ReadAsync(20);
        Width = BinaryPrimitives.ReadUInt16BigEndian(init);
        Height = BinaryPrimitives.ReadUInt16BigEndian(init.AsSpan(2));
        ServerFormat = TestPixelFormat.Parse(init.AsSpan(4));
        Format = ServerFormat;
        Name = await ReadStringAsync();
        Pixels = new uint[Width * Height];
    }

    /// <summary>VNC authentication's answer: DES-ECB of the challenge, the key being the password's bytes mirrored bit by bit.</summary>
    public static byte[] VncResponse(string password, byte[] challenge)
    {
        var key = new byte[8];
        var bytes = Encoding.ASCII.GetBytes(password);
        for (var i = 0; i < Math.Min(8, bytes.Length); i++)
        {
            var bits = Convert.ToString(bytes[i], 2).PadLeft(8, '0');
            key[i] = Convert.ToByte(new string(bits.Reverse().ToArray()), 2);
        }

#pragma warning disable CA5351 // the protocol's own cipher
        using var des = DES.Create();
#pragma warning restore CA5351
        des.Key = key;
        return des.EncryptEcb(challenge, PaddingMode.None);
    }

    public Task SetPixelFormatAsync(TestPixelFormat format)
    {
        Format = format;
        Array.Clear(Pixels);
        return WriteAsync([0, 0, 0, 0, .. format.ToBytes()]);
    }

    public Task SetEncodingsAsync(params int[] encodings)
    {
        var message = new byte[4 + (4 * encodings.Length)];
        message[0] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)encodings.Length);
        for (var i = 0; i < encodings.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(4 + (4 * i)), encodings[i]);
        }

        return WriteAsync(message);
    }

    public Task RequestUpdateAsync(bool incremental, Rect? area = null)
    {
        var a = area ?? new Rect(0, 0, Width, Height);
        var message = new byte[10];
        message[0] = 3;
        message[1] = (byte)(incremental ? 1 : 0);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)a.X);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), (ushort)a.Y);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), (ushort)a.Width);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(8), (ushort)a.Height);
        return WriteAsync(message);
    }

    public Task KeyAsync(bool down, uint keysym)
    {
        var message = new byte[8];
        message[0] = 4;
        message[1] = (byte)(down ? 1 : 0);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), keysym);
        return WriteAsync(message);
    }

    public Task PointerAsync(byte buttons, int x, int y)
    {
        var message = new byte[6];
        message[0] = 5;
        message[1] = buttons;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)x);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), (ushort)y);
        return WriteAsync(message);
    }

    public Task ExtendedKeyAsync(bool down, uint keysym, uint keycode)
    {
        var message = new byte[12];
        message[0] = 255;
        message[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)(down ? 1 : 0));
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), keysym);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), keycode);
        return WriteAsync(message);
    }

    public Task CutTextAsync(uint length, byte[] text)
    {
        var message = new byte[8 + text.Length];
        message[0] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), length);
        text.CopyTo(message.AsSpan(8));
        return WriteAsync(message);
    }

    public Task SetDesktopSizeAsync(int width, int height)
    {
        var message = new byte[8 + 16];
        message[0] = 251;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)width);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), (ushort)height);
        message[6] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(8 + 8), (ushort)width);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(8 + 10), (ushort)height);
        return WriteAsync(message);
    }

    public async Task WriteAsync(byte[] bytes)
    {
        using var deadline = new CancellationTokenSource(Ceiling);
        await _stream.WriteAsync(bytes, deadline.Token);
    }

    /// <summary>Half-closes the connection (nothing more from the client), as a client that dies mid-message would.</summary>
    public void ShutdownSend() => _socket?.Shutdown(SocketShutdown.Send);

    /// <summary>Reads (and drops) until the server closes the connection; fails if it does not within the ceiling.</summary>
    public async Task WaitForCloseAsync()
    {
        using var deadline = new CancellationTokenSource(Ceiling);
        var buffer = new byte[65536];
        try
        {
            while (await _stream.ReadAsync(buffer, deadline.Token) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Reset by the server: closed as well.
        }
    }

    /// <summary>The first pixel where the client's picture differs from <paramref name="framebuffer"/> in the client's format, or null.</summary>
    public string? Mismatch(Framebuffer framebuffer)
    {
        var (width, height) = framebuffer.Size;
        if ((width, height) != (Width, Height))
        {
            return $"the client has {Width}x{Height}, the framebuffer {width}x{height}";
        }

        var bytes = new byte[width * height * 4];
        _ = framebuffer.CopyTo(new Rect(0, 0, width, height), bytes, width * 4);
        for (var i = 0; i < width * height; i++)
        {
            var expected = Format.Expected(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4)));
            if (Pixels[i] != expected)
            {
                return $"pixel ({i % width}, {i / width}) is {Pixels[i]:X8}, expected {expected:X8}";
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _zrle.Dispose();
        foreach (var feed in _tight)
        {
            feed?.Dispose();
        }
    }

    private async Task<byte[]> ReadAsync(int count)
    {
        var bytes = new byte[count];
        using var deadline = new CancellationTokenSource(Ceiling);
        await _stream.ReadExactlyAsync(bytes, deadline.Token);
        return bytes;
    }

    private async Task<byte> ReadU8Async() => (await ReadAsync(1))[0];

    private async Task<int> ReadU16Async() => BinaryPrimitives.ReadUInt16BigEndian(await ReadAsync(2));

    private async Task<uint> ReadU32Async() => BinaryPrimitives.ReadUInt32BigEndian(await ReadAsync(4));

    private async Task<string> ReadStringAsync()
    {
        var length = await ReadU32Async();
        Assert.True(length < 65536, $"a string of {length} bytes");
        return Encoding.UTF8.GetString(await ReadAsync((int)length));
    }
}
