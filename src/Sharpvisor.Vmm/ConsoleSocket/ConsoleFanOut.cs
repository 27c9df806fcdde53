namespace Sharpvisor.Vmm.ConsoleSocket;

/// <summary>
/// Console output to many readers: keeps the last 64 KiB in a <see cref="ConsoleRing"/> and gives every new
/// subscriber that replay first, then live output, with nothing lost or doubled in between (both happen under one
/// lock). Publishing never waits for a reader: a reader more than <see cref="MaxQueuedBytes"/> behind is dropped.
/// </summary>
public sealed class ConsoleFanOut
{
    /// <summary>Queued output is split into pieces of at most this size; readers read at least this much at once.</summary>
    public const int MaxChunkBytes = 16 * 1024;

    private readonly Lock _lock = new();
    private readonly ConsoleRing _ring;
    private readonly List<ConsoleSubscriber> _subscribers = [];
    private readonly Action<ConsoleSubscriber>? _onOverflow;
    private bool _completed;

    public ConsoleFanOut(int ringCapacity = ConsoleRing.DefaultCapacity, long maxQueuedBytes = 1024 * 1024, Action<ConsoleSubscriber>? onOverflow = null)
    {
        _ring = new ConsoleRing(ringCapacity);
        MaxQueuedBytes = maxQueuedBytes;
        _onOverflow = onOverflow;
    }

    public long MaxQueuedBytes { get; }

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    public byte[] Replay()
    {
        lock (_lock)
        {
            return _ring.Snapshot();
        }
    }

    public void Publish(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        List<ConsoleSubscriber>? dropped = null;
        lock (_lock)
        {
            _ring.Append(bytes);
            foreach (var subscriber in _subscribers)
            {
                if (!EnqueueChunked(subscriber, bytes))
                {
                    (dropped ??= []).Add(subscriber);
                }
            }

            if (dropped is not null)
            {
                _ = _subscribers.RemoveAll(dropped.Contains);
            }
        }

        // Outside the lock: the callback may log or close a socket.
        foreach (var subscriber in dropped ?? [])
        {
            _onOverflow?.Invoke(subscriber);
        }
    }

    /// <summary>A new reader whose queue starts with the replay.</summary>
    public ConsoleSubscriber Subscribe()
    {
        var subscriber = new ConsoleSubscriber(this);
        lock (_lock)
        {
            if (_completed)
            {
                subscriber.Complete();
                return subscriber;
            }

            // The replay is at most the ring's size, which the bound must allow.
            _ = EnqueueChunked(subscriber, _ring.Snapshot(), long.MaxValue);
            _subscribers.Add(subscriber);
        }

        return subscriber;
    }

    /// <summary>Ends every subscription (after queued output is read) and refuses new ones.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            _completed = true;
            foreach (var subscriber in _subscribers)
            {
                subscriber.Complete();
            }

            _subscribers.Clear();
        }
    }

    internal void Unsubscribe(ConsoleSubscriber subscriber)
    {
        lock (_lock)
        {
            _ = _subscribers.Remove(subscriber);
        }

        subscriber.Complete();
    }

    private bool EnqueueChunked(ConsoleSubscriber subscriber, ReadOnlySpan<byte> bytes, long? bound = null)
    {
        for (var offset = 0; offset < bytes.Length; offset += MaxChunkBytes)
        {
            var piece = bytes.Slice(offset, Math.Min(MaxChunkBytes, bytes.Length - offset));
            if (!subscriber.TryEnqueue(piece, bound ?? (MaxQueuedBytes + _ring.Capacity)))
            {
                return false;
            }
        }

        return true;
    }
}
