using System.Threading.Channels;

namespace Sharpvisor.Vmm.ConsoleSocket;

/// <summary>
/// One client's queue of console output. Bounded by bytes: when the client falls more than
/// <see cref="ConsoleFanOut.MaxQueuedBytes"/> behind it is cut off (reads then end) rather than ever slowing the guest.
/// </summary>
public sealed class ConsoleSubscriber : IDisposable
{
    private readonly ConsoleFanOut _owner;
    private readonly Channel<byte[]> _chunks = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private long _queuedBytes;

    internal ConsoleSubscriber(ConsoleFanOut owner) => _owner = owner;

    /// <summary>True once the client was dropped for falling too far behind.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>
    /// Waits for output and copies as much queued output as fits into <paramref name="buffer"/> (at least
    /// <see cref="ConsoleFanOut.MaxChunkBytes"/> long); 0 when the subscription ended (disposed, overflowed or the
    /// fan-out completed).
    /// </summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, ConsoleFanOut.MaxChunkBytes);
        if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || Overflowed)
        {
            return 0;
        }

        // Coalesces many small chunks (the UART publishes byte by byte) into one send.
        var filled = 0;
        while (_chunks.Reader.TryPeek(out var chunk) && chunk.Length <= buffer.Length - filled)
        {
            _ = _chunks.Reader.TryRead(out _);
            chunk.CopyTo(buffer.Span[filled..]);
            filled += chunk.Length;
            Interlocked.Add(ref _queuedBytes, -chunk.Length);
        }

        return filled;
    }

    public void Dispose() => _owner.Unsubscribe(this);

    internal void Complete() => _chunks.Writer.TryComplete();

    /// <summary>Queues a copy; false when that would exceed the bound (the caller then drops this subscriber).</summary>
    internal bool TryEnqueue(ReadOnlySpan<byte> bytes, long maxQueuedBytes)
    {
        if (Interlocked.Add(ref _queuedBytes, bytes.Length) > maxQueuedBytes)
        {
            Overflowed = true;
            _chunks.Writer.TryComplete();
            return false;
        }

        return _chunks.Writer.TryWrite(bytes.ToArray());
    }
}
