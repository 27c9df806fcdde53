using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A device thread: waits until a queue's doorbell rings or a backend descriptor (a TAP) becomes readable and
/// calls the device for it. A driver that breaks the queue contract stops the worker through
/// <see cref="VirtioActivation.Fail"/>; the VMM and the other devices keep running. A stop is checked between
/// sources, and each source's work per wake-up is bounded (<see cref="VirtioQueue.ServeAvailable"/> serves a batch),
/// so a driver posting buffers without end cannot keep the thread from seeing it. Waiting for the thread to stop has a
/// deadline: a thread stuck in one request (a backend that never returns) is abandoned, not waited for forever.
/// A quiesce (for a snapshot) parks the thread between sources with nothing taken; doorbells rung meanwhile stay
/// readable and are served when it ends.
/// </summary>
public sealed class DeviceWorker : IDisposable
{
    /// <summary>Wakes the thread from its wait: for a stop, and for a quiesce or its end (the flags say which).</summary>
    private readonly EventFd _stop = new(nonBlocking: true);
    private readonly object _holdLock = new(); // a Monitor, for its Wait with a timeout
    private readonly SafeHandle[] _handles;
    private readonly EventFd?[] _doorbells;
    private readonly Action<int> _onReady;
    private readonly VirtioActivation _activation;
    private readonly Thread _thread;
    private readonly bool[] _paused;
    private readonly int _doorbellCount;
    private volatile bool _stopping;
    private volatile bool _held;
    private bool _parked; // under _holdLock: the thread waits with nothing taken while held, or has ended
    private int _stopUsers = 1; // the disposer, and the thread while it runs: the last one out closes the stop eventfd

    /// <summary>How long a guest's device reset waits for the thread (a vCPU is blocked meanwhile).</summary>
    public static readonly TimeSpan ResetDeadline = TimeSpan.FromSeconds(5);

    /// <summary>How long VM teardown waits: the process is going away, and SIGTERM must end it within a second.</summary>
    public static readonly TimeSpan TeardownDeadline = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Serves <paramref name="doorbells"/> (index i is source i) and then <paramref name="others"/> (source
    /// doorbells.Count + j); <paramref name="onReady"/> gets the source index. Doorbells are drained before the call.
    /// </summary>
    public DeviceWorker(string name, VirtioActivation activation, IReadOnlyList<EventFd> doorbells, IReadOnlyList<SafeHandle> others, Action<int> onReady)
    {
        _activation = activation;
        _onReady = onReady;
        _doorbells = [null, .. doorbells, .. others.Select(_ => (EventFd?)null)];
        _handles = [_stop.Handle, .. doorbells.Select(d => (SafeHandle)d.Handle), .. others];
        _paused = new bool[_handles.Length];
        _doorbellCount = doorbells.Count;
        _thread = new Thread(Loop) { Name = name, IsBackground = true };
    }

    /// <summary>
    /// Stops or resumes watching source <paramref name="source"/>, e.g. a TAP while the guest has posted no receive
    /// buffers (a readable descriptor that cannot be served would otherwise spin the thread). Call it from the
    /// device's callback, on the worker thread.
    /// </summary>
    public void Pause(int source, bool paused) => _paused[source + 1] = paused;

    public void Start()
    {
        // The lease keeps guest RAM mapped for as long as this thread may touch it, even past a deadline.
        _lease = _activation.Memory.Lease();
        Interlocked.Increment(ref _stopUsers);
        _thread.Start();
    }

    private GuestMemory.MemoryLease? _lease;

    /// <summary>ThreadState is a set of flags (a background thread has Background too): test the one bit.</summary>
    private bool Unstarted => (_thread.ThreadState & ThreadState.Unstarted) != 0;

    /// <summary>
    /// Asks the thread to take no new work (between sources, and between chains through the queues' hold) and waits
    /// up to <paramref name="deadline"/> until it is parked, every chain it took given back and signalled. False when
    /// it is still inside a request at the deadline; the hold is then lifted again, the worker goes on as before.
    /// Before <see cref="Start"/> it returns at once: the thread starts parked and takes nothing until <see cref="Unquiesce"/>.
    /// </summary>
    public bool Quiesce(TimeSpan deadline)
    {
        lock (_holdLock)
        {
            _held = true;
            _activation.Hold(true);
        }

        if (Unstarted)
        {
            return true;
        }

        _stop.Signal();
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_holdLock)
        {
            while (!_parked)
            {
                var left = deadline - System.Diagnostics.Stopwatch.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    break;
                }

                Monitor.Wait(_holdLock, left);
            }

            if (_parked)
            {
                return true;
            }
        }

        Unquiesce();
        return false;
    }

    /// <summary>Lifts a <see cref="Quiesce"/>: the thread serves what the driver posted meanwhile (its doorbells are still readable).</summary>
    public void Unquiesce()
    {
        lock (_holdLock)
        {
            if (!_held)
            {
                return;
            }

            _held = false;
            _activation.Hold(false);
        }

        if (!_stopping)
        {
            _stop.Signal();
        }
    }

    /// <summary>
    /// Asks the thread to finish and waits up to <paramref name="deadline"/> for it; true when it has finished (it
    /// no longer touches guest memory), false when it is stuck in a request and was abandoned: it leaves at its next
    /// check, and guest memory stays mapped while it lives (it holds a lease, see <see cref="GuestMemory"/>).
    /// </summary>
    public bool Stop(TimeSpan deadline)
    {
        _stopping = true;
        _stop.Signal();
        return Thread.CurrentThread == _thread || Unstarted || _thread.Join(deadline);
    }

    /// <summary>Stops the thread (within <see cref="TeardownDeadline"/> unless stopped already); an abandoned thread closes the stop eventfd itself.</summary>
    public void Dispose()
    {
        if (!_stopping)
        {
            _ = Stop(TeardownDeadline);
        }

        Release();
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _stopUsers) == 0)
        {
            _stop.Dispose();
        }
    }

    private void Loop()
    {
        var watched = new SafeHandle[_handles.Length];
        var sources = new int[_handles.Length];
        Span<bool> ready = stackalloc bool[_handles.Length];
        try
        {
            while (!_stopping)
            {
                if (_held)
                {
                    WaitWhileHeld();
                    continue;
                }

                // With Bus Master off only the stop and the doorbells are watched (a readable TAP would spin the
                // thread); the transport rings every doorbell when the bit comes back, and the work resumes.
                var dma = _activation.DmaAllowed;
                var count = 0;
                for (var i = 0; i < _handles.Length; i++)
                {
                    if (!_paused[i] && (dma || i <= _doorbellCount))
                    {
                        watched[count] = _handles[i];
                        sources[count++] = i;
                    }
                }

                FdPoll.WaitReadable(watched.AsSpan(0, count), ready, -1);
                if (ready[0])
                {
                    _stop.Wait(); // a stop or a hold: the flags say which, at the top
                }

                // A source not served because of a hold is left readable, and served when it ends.
                for (var k = 1; k < count && !_stopping && !_held; k++)
                {
                    if (ready[k])
                    {
                        _doorbells[sources[k]]?.Wait();
                        if (_activation.DmaAllowed)
                        {
                            _onReady(sources[k] - 1);
                        }
                    }
                }
            }
        }
        catch (Exception) when (_stopping)
        {
            // Stopped (or abandoned past its deadline, its backend and descriptors closed under it): whatever went
            // wrong now concerns a device that is gone. First, so a late failure never reaches the transport.
        }
        catch (Exception e) when (e is VirtqueueException or GuestMemoryException)
        {
            _activation.Fail(e.Message);
        }
        catch (Exception e) when (e is IOException or KvmException or InvalidOperationException or ArgumentException)
        {
            _activation.Fail($"device thread stopped: {e.Message}");
        }
        finally
        {
            SetParked(true); // an ended thread takes nothing more: a quiesce need not wait for it
            _lease?.Dispose();
            Release();
        }
    }

    /// <summary>Parks the thread with nothing taken until the hold ends or a stop comes.</summary>
    private void WaitWhileHeld()
    {
        SetParked(true);
        ReadOnlySpan<SafeHandle> stop = [_stop.Handle];
        Span<bool> ready = stackalloc bool[1];
        while (_held && !_stopping)
        {
            FdPoll.WaitReadable(stop, ready, -1);
            _stop.Wait();
        }

        SetParked(false);
    }

    private void SetParked(bool parked)
    {
        lock (_holdLock)
        {
            _parked = parked;
            Monitor.PulseAll(_holdLock);
        }
    }
}
