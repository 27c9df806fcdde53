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
    /// Builds <paramref name="heads"/> framebuffers of <paramref name="width"/> x <paramref name="height"/> and a server for
    /// each, on <paramref name="socketFor"/>(head) and <paramref name="endPointFor"/>(head) where those are not null.
    /// Clients authenticate with <paramref name="password"/> or a ticket; with neither, a password-less server would
    /// let anyone who reaches the socket in, so a server without a password still asks for a ticket unless
    /// <paramref name="requireAuthentication"/> is false (a socket only its owner can open).
    /// </summary>
    public static DisplayServers Start(
        int heads, int width, int height, Func<int, string?> socketFor, Func<int, IPEndPoint?> endPointFor,
        string? password, bool requireAuthentication, Action<string> log)
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
                var options = new RfbServerOptions
                {
                    DesktopName = heads == 1 ? "Sharpvisor VM" : $"Sharpvisor VM head {head}",
                    Authentication = password is not null || requireAuthentication ? servers.Authentication : null,
                    Log = message => log($"{name}: {message}"),
                };
                var server = new RfbServer(framebuffers[head], servers.Input, options);
                servers._servers.Add(server);
                if (socketFor(head) is { } path)
                {
                    server.Listen(UnixSocketListener.Listen(path, 16, out var fullPath));
                    servers._socketPaths.Add(fullPath);
                }

                if (endPointFor(head) is { } endPoint)
                {
                    servers._tcp.Add(server.Start(endPoint));
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
