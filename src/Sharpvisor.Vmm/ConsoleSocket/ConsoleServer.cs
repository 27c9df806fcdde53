using System.Net.Sockets;
using System.Threading.Channels;
using Sharpvisor.Vmm.Control;

namespace Sharpvisor.Vmm.ConsoleSocket;

/// <summary>
/// The VMM's serial console as a unix stream socket (mode 0600, removed on dispose): every connection first gets
/// the last 64 KiB of output, then live output; what any client writes is the guest's keyboard input. Clients
/// never slow the guest: output goes through <see cref="ConsoleFanOut"/> (a client too far behind is dropped), and
/// input goes through a bounded queue drained by one thread, so a flooding client only waits for itself.
/// </summary>
public sealed class ConsoleServer : IDisposable
{
    public const int MaxConnections = 32;

    private static readonly TimeSpan DisposeWait = TimeSpan.FromSeconds(2);

    private readonly Socket _listener;
    private readonly Action<string> _log;
    private readonly Action<ReadOnlyMemory<byte>> _input;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<ConsoleSubscriber, Socket> _clients = [];
    private readonly List<Task> _connections = [];
    private readonly Channel<byte[]> _inputQueue = Channel.CreateBounded<byte[]>(64);
    private readonly Task _acceptLoop;
    private readonly Thread _inputThread;
    private bool _disposed;

    private ConsoleServer(string path, Socket listener, Action<ReadOnlyMemory<byte>> input, Action<string> log, long maxQueuedBytes)
    {
        Path = path;
        _listener = listener;
        _input = input;
        _log = log;
        FanOut = new ConsoleFanOut(maxQueuedBytes: maxQueuedBytes, onOverflow: Drop);
        Output = new ConsoleOutputStream(FanOut);
        _inputThread = new Thread(PumpInput) { Name = "console-socket-input", IsBackground = true };
        _inputThread.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string Path { get; }

    public ConsoleFanOut FanOut { get; }

    /// <summary>Clients connected now (beyond <see cref="MaxConnections"/>, new ones are closed at once).</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_lock)
            {
                return _clients.Count;
            }
        }
    }

    /// <summary>Where the guest's console output goes (give it to the UART or the virtio console).</summary>
    public Stream Output { get; }

    /// <summary>
    /// Listens on <paramref name="path"/>; <paramref name="input"/> receives client bytes, one call at a time, on a
    /// thread of its own (it may block until the guest takes them).
    /// </summary>
    public static ConsoleServer Start(string path, Action<ReadOnlyMemory<byte>> input, Action<string>? log = null, long maxQueuedBytes = 1024 * 1024)
    {
        ArgumentNullException.ThrowIfNull(input);
        var listener = UnixSocketListener.Listen(path, MaxConnections, out var fullPath);
        return new ConsoleServer(fullPath, listener, input, log ?? (_ => { }), maxQueuedBytes);
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
        }

        // Clients first get what is queued (the guest's last words), then their connections end.
        FanOut.Complete();
        _ = _inputQueue.Writer.TryComplete();
        _listener.Dispose();
        try
        {
            _ = Task.WaitAll([_acceptLoop, .. connections], DisposeWait);
        }
        catch (AggregateException)
        {
            // Connection tasks handle their own failures.
        }

        _shutdown.Cancel();
        lock (_lock)
        {
            foreach (var client in _clients.Values)
            {
                client.Dispose();
            }
        }

        try
        {
            File.Delete(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"console socket {Path}: could not remove it: {e.Message}");
        }
    }

    private void Drop(ConsoleSubscriber subscriber)
    {
        _log($"console socket {Path}: dropped a client more than {FanOut.MaxQueuedBytes} bytes behind");
        lock (_lock)
        {
            if (_clients.TryGetValue(subscriber, out var socket))
            {
                // Ends both its loops; the output loop sees the subscription end too.
                socket.Dispose();
            }
        }
    }

    private void PumpInput()
    {
        var reader = _inputQueue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var bytes))
            {
                try
                {
                    _input(bytes);
                }
#pragma warning disable CA1031 // a failing keystroke must not end the console
                catch (Exception e)
                {
                    _log($"console socket {Path}: input failed: {e.Message}");
                }
#pragma warning restore CA1031
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (await UnixSocketListener.AcceptAsync(_listener, e => _log($"console socket {Path}: accept failed: {e}")).ConfigureAwait(false) is { } client)
        {
            lock (_lock)
            {
                if (_disposed || _clients.Count >= MaxConnections)
                {
                    client.Dispose();
                    if (_disposed)
                    {
                        return;
                    }

                    continue;
                }

                var subscriber = FanOut.Subscribe();
                _clients.Add(subscriber, client);
                _ = _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(Task.Run(() => ServeAsync(client, subscriber)));
            }
        }
    }

    private async Task ServeAsync(Socket client, ConsoleSubscriber subscriber)
    {
        var input = ReceiveAsync(client, subscriber);
        try
        {
            var buffer = new byte[ConsoleFanOut.MaxChunkBytes];
            int count;
            while ((count = await subscriber.ReadAsync(buffer, _shutdown.Token).ConfigureAwait(false)) > 0)
            {
                var sent = 0;
                while (sent < count)
                {
                    sent += await client.SendAsync(buffer.AsMemory(sent, count - sent), SocketFlags.None, _shutdown.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away, was dropped, or the server is shutting down.
        }
        finally
        {
            subscriber.Dispose();
            lock (_lock)
            {
                _ = _clients.Remove(subscriber);
            }

            client.Dispose();
            await input.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Client bytes to the input queue until the client closes its side, which ends the connection (after queued
    /// output is sent): otherwise a client that went away would hold its slot until the guest next printed.
    /// </summary>
    private async Task ReceiveAsync(Socket client, ConsoleSubscriber subscriber)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await client.ReceiveAsync(buffer, SocketFlags.None, _shutdown.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                await _inputQueue.Writer.WriteAsync(buffer.AsSpan(0, read).ToArray(), _shutdown.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or ChannelClosedException)
        {
            // The client went away or the server is shutting down.
        }
        finally
        {
            subscriber.Dispose();
        }
    }
}
