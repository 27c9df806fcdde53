using System.Runtime.ExceptionServices;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// Runs the items of a batch at once on a few threads of the device's own, the calling thread among them: blocking
/// disk calls stay off the .NET thread pool, whose threads the VMM's sockets need, and a batch needs no thread to be
/// injected first. The helpers are made at the first batch of more than one item and end with <see cref="Dispose"/>.
/// </summary>
internal sealed class BatchRunner(string name, int helpers) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ManualResetEventSlim _done = new(false);
    private Thread[]? _threads;
    private Action<int>? _work;
    private int _next;
    private int _end;
    private int _remaining;
    private Exception? _failure;
    private volatile bool _disposed;

    /// <summary>Runs <paramref name="work"/> for each of [<paramref name="from"/>, <paramref name="to"/>) and returns once all are done; the first failure is rethrown.</summary>
    public void Run(int from, int to, Action<int> work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (to - from <= 0)
        {
            return;
        }

        lock (_lock)
        {
            (_work, _next, _end, _remaining, _failure) = (work, from, to, to - from, null);
            _done.Reset();
        }

        if (to - from > 1)
        {
            _threads ??= StartHelpers();
            _wake.Release(Math.Min(helpers, to - from - 1));
        }

        Participate();
        // The items run to their end whatever happens: a disk call cannot be taken back. The device's stop abandons a
        // thread that never comes back (DeviceWorker), and this wait with it.
        _done.Wait();
        lock (_lock)
        {
            _work = null;
            if (_failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _wake.Release(helpers); // each helper wakes, sees the flag and ends
    }

    private Thread[] StartHelpers()
    {
        var threads = new Thread[helpers];
        for (var i = 0; i < helpers; i++)
        {
            threads[i] = new Thread(HelperLoop) { IsBackground = true, Name = $"{name} io {i + 1}" };
            threads[i].Start();
        }

        return threads;
    }

    private void HelperLoop()
    {
        while (true)
        {
            _wake.Wait();
            if (_disposed)
            {
                return;
            }

            Participate();
        }
    }

    /// <summary>Takes items until none is left; the one that finishes the last item says so.</summary>
    private void Participate()
    {
        while (true)
        {
            int index;
            Action<int> work;
            lock (_lock)
            {
                if (_work is null || _next >= _end)
                {
                    return;
                }

                index = _next++;
                work = _work;
            }

            try
            {
                work(index);
            }
            catch (Exception e)
            {
                lock (_lock)
                {
                    _failure ??= e;
                }
            }
            finally
            {
                if (Interlocked.Decrement(ref _remaining) == 0)
                {
                    _done.Set();
                }
            }
        }
    }
}
