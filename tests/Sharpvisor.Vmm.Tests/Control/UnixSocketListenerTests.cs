using System.Net.Sockets;
using Sharpvisor.Vmm.Control;

namespace Sharpvisor.Vmm.Tests.Control;

/// <summary>The socket file a client waits for: it appears only when it accepts connections.</summary>
public sealed class UnixSocketListenerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sv-listen-").FullName;

    private string SocketPath => Path.Combine(_dir, "vm.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task AClientThatSeesTheFileCanConnectAtOnce()
    {
        // A client polling for the file, as the tests and the supervisor do, races the VMM's bind and listen.
        // Before the fix, one that met the file between the two was refused (seen under a loaded nested host).
        for (var round = 0; round < 200; round++)
        {
            using var ready = new ManualResetEventSlim();
            var client = Task.Run(() =>
            {
                ready.Set();
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (!File.Exists(SocketPath))
                {
                    Assert.True(DateTime.UtcNow < deadline, "the socket file never appeared");
                }

                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Connect(new UnixDomainSocketEndPoint(SocketPath));
            });
            Assert.True(ready.Wait(TimeSpan.FromSeconds(30)));
            using (UnixSocketListener.Listen(SocketPath, 4, out _))
            {
                await client.WaitAsync(TimeSpan.FromSeconds(30));
            }

            File.Delete(SocketPath);
        }
    }

    [Fact]
    public void TheSocketIsOwnerOnlyAndNothingIsLeftBesideIt()
    {
        using var listener = UnixSocketListener.Listen(SocketPath, 4, out var fullPath);
        Assert.Equal(SocketPath, fullPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        Assert.Equal([SocketPath], Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void APathThatFitsOnlyWithoutTheStagingNameStillListens()
    {
        // 107 bytes is the most a socket address holds; a short final name in a deep directory leaves no room for
        // the hidden staging name beside it, and the socket is bound in place.
        var deep = Path.Combine(_dir, new string('d', 104 - _dir.Length - 4));
        Directory.CreateDirectory(deep);
        var path = Path.Combine(deep, "s");
        Assert.True(path.Length <= 107, path);
        using var listener = UnixSocketListener.Listen(path, 4, out _);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(deep));
    }
}
