using System.Net;
using System.Net.Sockets;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// An RFB 3.8 (VNC) server for one <see cref="Framebuffer"/> (RFC 6143, with 3.3 and 3.7 clients too): it serves the
/// listening sockets it is given (unix-domain or TCP, several at once) and single connections handed to it (a
/// WebSocket the manager proxies), sends each client the picture in Raw, ZRLE, Tight or CopyRect, follows resizes and
/// the cursor, and passes keys and the pointer to an <see cref="IDisplayInput"/>. A client is only ever a danger to
/// itself: any fault ends its own session with a logged reason. Dispose stops everything within a few seconds.
/// </summary>
/// <remarks>
/// A resize reaches a client that listed ExtendedDesktopSize (or else DesktopSize) as that pseudo-rectangle alone in
/// an update, then the whole new picture. A client that listed neither keeps the size it was greeted with: it is sent
/// the new picture clipped to that size, black where the framebuffer no longer reaches. CopyRect is sent only for
/// regions the device moved with <see cref="Framebuffer.Move"/>, and only when the client already shows the source.
/// </remarks>
public sealed class RfbServer : IAsyncDisposable, IDisposable
{
    /// <summary>How long Dispose waits for sessions and listeners to end.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private readonly HashSet<RfbClientSession> _sessions = [];
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly List<string> _socketFiles = [];
    private readonly CancellationTokenSource _stopping = new();
    private int _refusing;
    private bool _disposed;

    public RfbServer(Framebuffer framebuffer, IDisplayInput input, RfbServerOptions? options = null)
    {
        Framebuffer = framebuffer ?? throw new ArgumentNullException(nameof(framebuffer));
        Input = input ?? throw new ArgumentNullException(nameof(input));
        Options = options ?? new RfbServerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxClients, 1, nameof(options));
        foreach (var timeout in new[] { Options.HandshakeTimeout, Options.MessageTimeout, Options.WriteTimeout })
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero, nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Options.AuthenticationFailureDelay, TimeSpan.Zero, nameof(options));
    }

    public Framebuffer Framebuffer { get; }

    public IDisplayInput Input { get; }

    public RfbServerOptions Options { get; }

    /// <summary>Clients connected now, those in the handshake included and refused ones excluded.</summary>
    public int ClientCount
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count - _refusing;
            }
        }
    }

    /// <summary>
    /// Serves a socket that is bound and listening (unix-domain or TCP) until disposal; the server owns it from now
    /// on and closes it.
    /// </summary>
    public void Listen(Socket listeningSocket)
    {
        ArgumentNullException.ThrowIfNull(listeningSocket);
        lock (_lock)
        {
            if (_disposed)
            {
                listeningSocket.Dispose();
                throw new ObjectDisposedException(nameof(RfbServer));
            }

            _listeners.Add(listeningSocket);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listeningSocket)));
        }
    }

    /// <summary>
    /// Binds a new socket to <paramref name="endPoint"/> (a <see cref="UnixDomainSocketEndPoint"/> or an IP end
    /// point; port 0 picks one), listens and serves it; returns the bound end point. A unix socket's file is deleted
    /// when the server is disposed.
    /// </summary>
    public EndPoint Start(EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var unix = endPoint is UnixDomainSocketEndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen();
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var bound = socket.LocalEndPoint ?? endPoint;

        // Only a file this call made is removed later; an abstract socket ("\0name", shown "@name") has none.
        if (unix && bound.ToString() is { Length: > 0 } path && path[0] is not ('\0' or '@'))
        {
            lock (_lock)
            {
                _socketFiles.Add(path);
            }
        }

        Listen(socket);
        return bound;
    }

    /// <summary>Serves one connected client socket; the server owns it from now on.</summary>
    public void Accept(Socket client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (client.ProtocolType == ProtocolType.Tcp)
        {
            client.NoDelay = true; // updates are answers someone waits for
        }

        _ = StartSession(new NetworkStream(client, ownsSocket: true));
    }

    /// <summary>
    /// Serves one already-connected client over <paramref name="stream"/> (the server owns and closes it); completes
    /// when the client has gone, and never faults. Cancelling ends the session.
    /// </summary>
    public async Task ServeAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var session = StartSession(stream);
        if (session is null)
        {
            return;
        }

        using (cancellationToken.Register(() => session.Stop("the caller cancelled")))
        {
            await session.Completion.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        RfbClientSession[] sessions;
        Task[] loops;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            sessions = [.. _sessions];
            loops = [.. _acceptLoops];
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        foreach (var session in sessions)
        {
            session.Stop("the server stopped");
        }

        try
        {
            await Task.WhenAll([.. loops, .. sessions.Select(session => session.Completion)]).WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log($"rfb: clients still ending after {StopTimeout.TotalSeconds:0} s; left behind");
        }

        foreach (var path in _socketFiles)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Someone else's now, or gone.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        _stopping.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Writes one line to the configured log; a failing log never reaches a session.</summary>
    internal void Log(string line)
    {
        try
        {
            Options.Log?.Invoke(line);
        }
        catch (Exception)
        {
            // The log is the caller's; its trouble is not the client's.
        }
    }

    /// <summary>A client asked for exclusive access (ClientInit shared = 0): every other one goes.</summary>
    internal void TakeExclusive(RfbClientSession owner)
    {
        RfbClientSession[] others;
        lock (_lock)
        {
            others = [.. _sessions.Where(session => session != owner && !session.Refused)];
        }

        foreach (var session in others)
        {
            session.Stop($"client {owner.Id} asked for exclusive access");
        }
    }

    internal void Ended(RfbClientSession session)
    {
        lock (_lock)
        {
            if (_sessions.Remove(session) && session.Refused)
            {
                _refusing--;
            }
        }
    }

    private RfbClientSession? StartSession(Stream stream)
    {
        RfbClientSession session;
        lock (_lock)
        {
            var refuse = _sessions.Count - _refusing >= Options.MaxClients;

            // Refusing politely costs a handshake; past as many again, a flood is just closed.
            if (_disposed || (refuse && _refusing >= Options.MaxClients))
            {
                stream.Dispose();
                return null;
            }

            session = new RfbClientSession(this, stream, refuse);
            _sessions.Add(session);
            if (refuse)
            {
                _refusing++;
            }
        }

        _ = Task.Run(session.RunAsync);
        return session;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors and the like: say so, breathe, and keep the listener.
                Log($"rfb: accept failed: {e.Message}");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            Accept(client);
        }
    }
}
