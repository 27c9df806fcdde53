namespace Sharpvisor.Display.Rfb;

/// <summary>
/// One client, from the handshake to its end: a reader task parses its messages, a writer task sends its updates. The
/// framebuffer only records into it (damage, size, cursor, moves) under the session's lock and wakes the writer, which
/// copies the pixels and encodes them on its own; so a slow or stuck client delays nobody but itself. Whatever the
/// client does ends, at worst, this session with a logged reason.
/// </summary>
internal sealed partial class RfbClientSession : IFramebufferObserver
{
    private static int s_lastId;

    private readonly RfbServer _server;
    private readonly Stream _stream;
    private readonly RfbInput _input;
    private readonly RfbOutput _output = new();
    private readonly bool _refuse;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Guarded by _lock: what the client has not been sent yet, and how it wants it.
    private readonly DamageRegion _damage = new();
    private readonly List<Rect> _inFlight = [];
    private int _viewWidth;
    private int _viewHeight;
    private (int Width, int Height)? _pendingSize;
    private UpdateRequest? _request;
    private RfbPixelConverter _converter = RfbPixelConverter.Default;
    private ClientEncodings _encodings = ClientEncodings.None;
    private DisplayCursor? _cursor;
    private bool _cursorKnown;
    private bool _cursorDue;
    private bool _keyEventAckDue;
    private bool _sizeAnnouncementDue;
    private int _sizeRequestsRefused;
    private CopyMove? _copy;
    private string? _stopReason;

    // Touched only by the reader task.
    private bool _inMessage;

    public RfbClientSession(RfbServer server, Stream stream, bool refuse)
    {
        _server = server;
        _stream = stream;
        _refuse = refuse;
        _input = new RfbInput(stream);
        Id = Interlocked.Increment(ref s_lastId);
    }

    /// <summary>A number for the log.</summary>
    public int Id { get; }

    /// <summary>Completes (never faults) when the session has ended and released everything.</summary>
    public Task Completion => _completion.Task;

    public bool Refused => _refuse;

    private Framebuffer Framebuffer => _server.Framebuffer;

    private RfbServerOptions Options => _server.Options;

    /// <summary>Ends the session soon: both tasks stop and the stream closes.</summary>
    public void Stop(string reason)
    {
        lock (_lock)
        {
            _stopReason ??= reason;
        }

        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already ended.
        }

        try
        {
            _stream.Dispose(); // a stream that ignores cancellation still fails its pending read or write now
        }
        catch (Exception)
        {
            // A stream that flushes on close (buffered, TLS, a WebSocket) can fail to on a connection the client
            // broke; it is closed all the same, and the session must still end and free its place.
        }
    }

    public async Task RunAsync()
    {
        var reason = "the client left";
        IDisposable? subscription = null;
        Task reader = Task.CompletedTask;
        Task writer = Task.CompletedTask;
        try
        {
            var shared = await HandshakeAsync().ConfigureAwait(false);
            if (!shared)
            {
                _server.TakeExclusive(this);
            }

            subscription = Framebuffer.Subscribe(this);
            var (width, height) = Framebuffer.Size;
            var cursor = Framebuffer.Cursor;
            lock (_lock)
            {
                // A resize or cursor change after Subscribe and before these reads is already in the fields.
                (_viewWidth, _viewHeight) = (width, height);
                if (_pendingSize == (width, height))
                {
                    _pendingSize = null;
                }

                if (!_cursorKnown)
                {
                    (_cursor, _cursorKnown) = (cursor, true);
                }

                _damage.Add(new Rect(0, 0, width, height)); // a first incremental request still gets the whole picture
            }

            await SendServerInitAsync(width, height).ConfigureAwait(false);
            reader = ReadLoopAsync(_stop.Token);
            writer = WriteLoopAsync(_stop.Token);
            await (await Task.WhenAny(reader, writer).ConfigureAwait(false)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            reason = Describe(e);
        }
        finally
        {
            subscription?.Dispose();
            Stop(reason);
            await Quietly(reader).ConfigureAwait(false);
            await Quietly(writer).ConfigureAwait(false);
            _zrle?.Dispose();
            _tight?.Dispose();
            _stop.Dispose();
            _server.Ended(this);
            lock (_lock)
            {
                reason = _stopReason ?? reason;
            }

            _server.Log($"rfb: client {Id} disconnected: {reason}");
            _completion.SetResult();
        }
    }

    void IFramebufferObserver.Damaged(Rect area)
    {
        lock (_lock)
        {
            _damage.Add(area.Intersect(ViewRect));
        }

        Signal();
    }

    void IFramebufferObserver.Resized(int width, int height)
    {
        lock (_lock)
        {
            _pendingSize = (width, height);
            _copy = null;
            _damage.Clear();
        }

        Signal();
    }

    void IFramebufferObserver.Moved(Rect source, int destinationX, int destinationY)
    {
        var move = new CopyMove(source, destinationX, destinationY);
        lock (_lock)
        {
            // The client can copy only what it already shows as the framebuffer had it at the move: nothing of the
            // source may wait in the damage or be on its way in an update whose pixels were read after the move.
            var view = ViewRect;
            if (_copy is null && _encodings.CopyRect && _pendingSize is null &&
                view.Intersect(source) == source && view.Intersect(move.Destination) == move.Destination &&
                !_damage.Intersects(source) && !InFlightIntersects(source))
            {
                _copy = move;
            }
            else
            {
                _damage.Add(move.Destination.Intersect(view));
            }
        }

        Signal();
    }

    void IFramebufferObserver.CursorChanged(DisplayCursor? cursor)
    {
        lock (_lock)
        {
            (_cursor, _cursorKnown, _cursorDue) = (cursor, true, true);
        }

        Signal();
    }

    private Rect ViewRect => new(0, 0, _viewWidth, _viewHeight);

    private bool InFlightIntersects(Rect area)
    {
        foreach (var rect in _inFlight)
        {
            if (!rect.Intersect(area).IsEmpty)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Wakes the writer; a wake already pending covers this one.</summary>
    private void Signal()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _ = _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another thread signalled in between: the writer wakes either way.
            }
        }
    }

    private string Describe(Exception e) => e switch
    {
        RfbProtocolException => e.Message,
        EndOfStreamException when _inMessage => "the client closed the connection in the middle of a message",
        EndOfStreamException => e.Message,
        OperationCanceledException or ObjectDisposedException => "stopped",
        IOException or System.Net.Sockets.SocketException => $"connection lost ({e.Message})",
        _ => $"internal error: {e.GetType().Name}: {e.Message}",
    };

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Its exception is the one already reported, or a consequence of stopping.
        }
    }
}
