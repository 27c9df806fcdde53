using System.Net.Sockets;

using Sharpvisor.Control;

namespace Sharpvisor.Vmm.Control;

/// <summary>
/// The control socket of one VMM process: a unix stream socket (mode 0600) serving newline-delimited JSON requests,
/// each connection on its own task, requests of one connection answered in order. Hostile clients cost at most
/// their own connection: a line over <see cref="ControlCodec.MaxLineBytes"/> gets an error and the connection is
/// closed; a silent client only holds an idle asynchronous read; beyond <see cref="MaxConnections"/> clients are
/// turned away. Dispose closes every connection and removes the socket file.
/// </summary>
public sealed class ControlServer : IDisposable
{
    public const int MaxConnections = 32;

    private static readonly TimeSpan DisposeWait = TimeSpan.FromSeconds(2);

    private readonly Socket _listener;
    private readonly ControlDispatcher _dispatcher;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _clients = [];
    private readonly List<Task> _connections = [];
    private readonly Task _acceptLoop;
    private bool _disposed;

    private ControlServer(string path, Socket listener, ControlDispatcher dispatcher, Action<string> log)
    {
        Path = path;
        _listener = listener;
        _dispatcher = dispatcher;
        _log = log;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string Path { get; }

    /// <summary>
    /// Listens on <paramref name="path"/>. A socket file already there is replaced unless a process still accepts
    /// connections on it (then this throws <see cref="IOException"/>), as is any other non-directory file: the path
    /// was named for this socket.
    /// </summary>
    public static ControlServer Start(string path, ControlDispatcher dispatcher, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        var listener = UnixSocketListener.Listen(path, MaxConnections, out var fullPath);
        return new ControlServer(fullPath, listener, dispatcher, log ?? (_ => { }));
    }

    public void Dispose()
    {
        Task[] connections;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            connections = [.. _connections];
            foreach (var client in _clients)
            {
                // Aborts a pending read or write; the connection task then ends.
                client.Dispose();
            }
        }

        _shutdown.Cancel();
        _listener.Dispose();
        try
        {
            _ = Task.WaitAll([_acceptLoop, .. connections], DisposeWait);
        }
        catch (AggregateException)
        {
            // Connection tasks handle their own failures; a straggler is not worth more than the wait.
        }

        try
        {
            File.Delete(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"control socket {Path}: could not remove it: {e.Message}");
        }

        _shutdown.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (await UnixSocketListener.AcceptAsync(_listener, e => _log($"control socket {Path}: accept failed: {e}"), _shutdown.Token).ConfigureAwait(false) is { } client)
        {
            lock (_lock)
            {
                if (_disposed)
                {
                    client.Dispose();
                    return;
                }

                if (_clients.Count >= MaxConnections)
                {
                    _connections.Add(Task.Run(() => TurnAwayAsync(client)));
                    continue;
                }

                _clients.Add(client);
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(Task.Run(() => ServeAsync(client)));
            }
        }
    }

    private async Task TurnAwayAsync(Socket client)
    {
        using (client)
        {
            await SendQuietlyAsync(client, ControlCodec.EncodeResponse(ControlResponse.Failure(null, $"too many control connections (at most {MaxConnections})"))).ConfigureAwait(false);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var buffer = new byte[ControlCodec.MaxLineBytes + 1];
        var count = 0;
        try
        {
            while (true)
            {
                var start = 0;
                int newline;
                while ((newline = buffer.AsSpan(start, count - start).IndexOf((byte)'\n')) >= 0)
                {
                    var reply = HandleLine(buffer.AsSpan(start, newline));
                    start += newline + 1;
                    if (reply is { } r && !await SendReplyAsync(client, r).ConfigureAwait(false))
                    {
                        return;
                    }
                }

                buffer.AsSpan(start, count - start).CopyTo(buffer);
                count -= start;
                if (count > ControlCodec.MaxLineBytes)
                {
                    await SendQuietlyAsync(client, ControlCodec.EncodeResponse(ControlResponse.Failure(
                        null, $"request line longer than {ControlCodec.MaxLineBytes} bytes; closing the connection"))).ConfigureAwait(false);
                    return;
                }

                var read = await client.ReceiveAsync(buffer.AsMemory(count), SocketFlags.None, _shutdown.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return; // the client closed; an unterminated last line is dropped
                }

                count += read;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away or the server is shutting down.
        }
        finally
        {
            lock (_lock)
            {
                _clients.Remove(client);
            }

            client.Dispose();
        }
    }

    /// <summary>The reply to one line; null for a blank line, which is skipped.</summary>
    private ControlReply? HandleLine(ReadOnlySpan<byte> line)
    {
        if (line.Length > 0 && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        return line.Trim(" \t"u8).IsEmpty ? null : _dispatcher.Handle(line);
    }

    /// <summary>Sends the response, then runs its after-send action whether or not the client was still there.</summary>
    private async Task<bool> SendReplyAsync(Socket client, ControlReply reply)
    {
        try
        {
            return await SendQuietlyAsync(client, ControlCodec.EncodeResponse(reply.Response)).ConfigureAwait(false);
        }
        finally
        {
            if (reply.AfterSend is { } after)
            {
                try
                {
                    after();
                }
#pragma warning disable CA1031 // the stop path must not take the control server down with it
                catch (Exception e)
                {
                    _log($"control socket {Path}: {e.GetType().Name}: {e.Message}");
                }
#pragma warning restore CA1031
            }
        }
    }

    private async Task<bool> SendQuietlyAsync(Socket client, byte[] line)
    {
        try
        {
            var sent = 0;
            while (sent < line.Length)
            {
                sent += await client.SendAsync(line.AsMemory(sent), SocketFlags.None, _shutdown.Token).ConfigureAwait(false);
            }

            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }
}
