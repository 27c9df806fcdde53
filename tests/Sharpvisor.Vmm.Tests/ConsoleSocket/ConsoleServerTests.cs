using System.Net.Sockets;
using System.Text;
using Sharpvisor.Vmm.ConsoleSocket;

namespace Sharpvisor.Vmm.Tests.ConsoleSocket;

/// <summary>The console socket on a real unix socket, with a list standing in for the guest's keyboard.</summary>
public sealed class ConsoleServerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sv-console-").FullName;
    private readonly List<byte> _keyboard = [];

    private string SocketPath => Path.Combine(_dir, "vm.console");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ConsoleServer Start(long maxQueuedBytes = 1024 * 1024) => ConsoleServer.Start(SocketPath, bytes =>
    {
        lock (_keyboard)
        {
            _keyboard.AddRange(bytes.ToArray());
        }
    }, maxQueuedBytes: maxQueuedBytes);

    /// <summary>Connects, waiting while the listen backlog is full (a storm can outrun accept: EAGAIN).</summary>
    private async Task<Socket> ConnectAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
                return socket;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock && attempt < 200)
            {
                socket.Dispose();
                await Task.Delay(10);
            }
        }
    }

    private static async Task<string> ReceiveUntilAsync(Socket socket, string expected)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(read > 0, $"closed after '{text}'");
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    private async Task WaitForKeyboardAsync(string expected)
    {
        for (var i = 0; i < 500; i++)
        {
            lock (_keyboard)
            {
                if (Encoding.ASCII.GetString([.. _keyboard]) == expected)
                {
                    return;
                }
            }

            await Task.Delay(10);
        }

        lock (_keyboard)
        {
            Assert.Equal(expected, Encoding.ASCII.GetString([.. _keyboard]));
        }
    }

    [Fact]
    public async Task ReplaysThenStreamsToEveryClientAndTakesInputFromAll()
    {
        string path;
        using (var server = Start())
        {
            path = server.Path;
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
            server.Output.Write("boot\n"u8);
            using var first = await ConnectAsync();
            Assert.Equal("boot\n", await ReceiveUntilAsync(first, "boot\n"));
            server.Output.WriteByte((byte)'A');
            Assert.Equal("A", await ReceiveUntilAsync(first, "A"));

            using var second = await ConnectAsync();
            Assert.Equal("boot\nA", await ReceiveUntilAsync(second, "boot\nA"));
            server.Output.Write("B"u8);
            Assert.Equal("B", await ReceiveUntilAsync(first, "B"));
            Assert.Equal("B", await ReceiveUntilAsync(second, "B"));

            await first.SendAsync("hi "u8.ToArray());
            await WaitForKeyboardAsync("hi ");
            await second.SendAsync("there"u8.ToArray());
            await WaitForKeyboardAsync("hi there");
        }

        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task ConnectStormsHugeWritesAndAStuckClientLeaveTheServerWorking()
    {
        using var server = Start(maxQueuedBytes: 64 * 1024);
        for (var i = 0; i < 200; i++)
        {
            using var socket = await ConnectAsync();
        }

        for (var i = 0; i < 500 && server.ConnectionCount > 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, server.ConnectionCount);

        // Never reads: dropped once more than the bound is queued for it.
        using var stuck = await ConnectAsync();
        using (var flood = await ConnectAsync())
        {
            await flood.SendAsync(new byte[1 << 20]);
        }

        await WaitForKeyboardCountAsync(1 << 20);

        var chunk = new byte[8192];
        for (var i = 0; i < 200; i++)
        {
            server.Output.Write(chunk);
        }

        Assert.Equal(0, server.FanOut.SubscriberCount);
        // The stuck client was cut off: what it can still read ends well short of everything published.
        var drained = 0L;
        var buffer = new byte[65536];
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            int read;
            while ((read = await stuck.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                drained += read;
            }
        }

        Assert.True(drained < 200L * chunk.Length, $"the stuck client still got {drained} bytes");
        using var late = await ConnectAsync();
        server.Output.Write("still here"u8);
        Assert.EndsWith("still here", await ReceiveUntilAsync(late, "still here"), StringComparison.Ordinal);
    }

    private async Task WaitForKeyboardCountAsync(int count)
    {
        for (var i = 0; i < 500; i++)
        {
            lock (_keyboard)
            {
                if (_keyboard.Count == count)
                {
                    return;
                }
            }

            await Task.Delay(10);
        }

        lock (_keyboard)
        {
            Assert.Equal(count, _keyboard.Count);
        }
    }

    [Fact]
    public void RefusesAPathTooLongForAUnixSocket()
    {
        var e = Assert.Throws<IOException>(() => ConsoleServer.Start(Path.Combine(_dir, new string('x', 120)), _ => { }));
        Assert.Contains("too long", e.Message, StringComparison.Ordinal);
    }
}
