using System.Net;
using System.Net.Sockets;
using Sharpvisor.Display;
using Sharpvisor.Display.Rfb;
using Sharpvisor.Vmm.Devices.Virtio.Input;

namespace Sharpvisor.Vmm.Control;

/// <summary>
/// A VM's screens as the process keeps them across guest reboots: one framebuffer per head, the keyboard and pointer
/// input the clients send, and one RFB (VNC) server per head listening on a unix socket (mode 0600, removed on
/// dispose) and, when asked, on a loopback TCP port. Started before the VMM confines itself: every socket is
/// bound and every library loaded here.
/// </summary>
public sealed class DisplayServers : IDisposable
{
    private readonly List<RfbServer> _servers = [];
    private readonly List<string> _socketPaths = [];
    private readonly List<EndPoint> _tcp = [];

    private DisplayServers(IReadOnlyList<Framebuffer> heads, VncAuthentication authentication, bool hasPassword)
    {
        Heads = heads;
        Authentication = authentication;
        HasPassword = hasPassword;
    }

    /// <summary>True when clients may use the password from the definition (else only tickets, or no authentication).</summary>
    public bool HasPassword { get; }

    public IReadOnlyList<Framebuffer> Heads { get; }

    public DisplayInput Input { get; } = new();

    /// <summary>The password, if any, and the one-time tickets the control socket issues.</summary>
    public VncAuthentication Authentication { get; }

    /// <summary>Each head's unix socket (absolute), or empty when the heads have none.</summary>
    public IReadOnlyList<string> SocketPaths => _socketPaths;

    /// <summary>Each head's loopback TCP endpoint as bound (a port 0 asked for is the real one here), or empty.</summary>
    public IReadOnlyList<EndPoint> TcpEndPoints => _tcp;

    /// <summary>
    /// Builds <paramref name="heads"/> framebuffers of <paramref name="width"/> x <paramref name="height"/> and, for each,
    /// a VNC server on <paramref name="socketFor"/>(head) and one on <paramref name="endPointFor"/>(head) where those are
    /// not null. The unix socket is its owner's alone (mode 0600), so it asks for nothing: the manager's web console
    /// reaches the VM there. A TCP port is open to every user of the host, so its clients always authenticate, with
    /// <paramref name="password"/> or a one-time ticket (tickets only when there is no password).
    /// </summary>
    public static DisplayServers Start(
        int heads, int width, int height, Func<int, string?> socketFor, Func<int, IPEndPoint?> endPointFor,
        string? password, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(socketFor);
        ArgumentNullException.ThrowIfNull(endPointFor);
        VncAuthentication.Prepare();
        var framebuffers = Enumerable.Range(0, heads).Select(_ => new Framebuffer(width, height)).ToArray();
        var servers = new DisplayServers(framebuffers, new VncAuthentication(password), password is not null);
        try
        {
            for (var head = 0; head < heads; head++)
            {
                var name = $"display {head}"; // the log below runs later: it must not see the loop's variable move on
                RfbServer Server(VncAuthentication? authentication)
                {
                    var server = new RfbServer(framebuffers[head], servers.Input, new RfbServerOptions
                    {
                        DesktopName = heads == 1 ? "Sharpvisor VM" : $"Sharpvisor VM head {head}",
                        Authentication = authentication,
                        Log = message => log($"{name}: {message}"),
                    });
                    servers._servers.Add(server);
                    return server;
                }

                if (socketFor(head) is { } path)
                {
                    Server(null).Listen(UnixSocketListener.Listen(path, 16, out var fullPath));
                    servers._socketPaths.Add(fullPath);
                }

                if (endPointFor(head) is { } endPoint)
                {
                    servers._tcp.Add(Server(servers.Authentication).Start(endPoint));
                }
            }

            return servers;
        }
        catch (SocketException e)
        {
            servers.Dispose();
            throw new IOException(e.Message, e);
        }
        catch
        {
            servers.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var server in _servers)
        {
            server.Dispose();
        }

        foreach (var path in _socketPaths)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: a stale socket file is replaced by the next VMM that binds there.
            }
        }
    }
}
