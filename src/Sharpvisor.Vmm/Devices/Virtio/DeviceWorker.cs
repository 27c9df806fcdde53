using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A device thread: waits until a queue's doorbell rings or a backend descriptor (a TAP) becomes readable and
/// calls the device for it. A driver that breaks the queue contract stops the worker through
/// <see cref="VirtioActivation.Fail"/>; the VMM and the other devices keep running.
/// </summary>
public sealed class DeviceWorker : IDisposable
{
    private readonly EventFd _stop = new(nonBlocking: true);
    private readonly SafeHandle[] _handles;
    private readonly EventFd?[] _doorbells;
    private readonly Action<int> _onReady;
    private readonly VirtioActivation _activation;
    private readonly Thread _thread;
    private readonly bool[] _paused;
    private volatile bool _stopping;

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
        _thread = new Thread(Loop) { Name = name, IsBackground = true };
    }

    /// <summary>
    /// Stops or resumes watching source <paramref name="source"/>, e.g. a TAP while the guest has posted no receive
    /// buffers (a readable descriptor that cannot be served would otherwise spin the thread). Call it from the
    /// device's callback, on the worker thread.
    /// </summary>
    public void Pause(int source, bool paused) => _paused[source + 1] = paused;

    public void Start() => _thread.Start();

    /// <summary>Asks the thread to finish and waits for it: afterwards it no longer touches guest memory.</summary>
    public void Stop()
    {
        _stopping = true;
        _stop.Signal();
        if (Thread.CurrentThread != _thread && _thread.ThreadState != ThreadState.Unstarted)
        {
            _thread.Join();
        }
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
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
                var count = 0;
                for (var i = 0; i < _handles.Length; i++)
                {
                    if (!_paused[i])
                    {
                        watched[count] = _handles[i];
                        sources[count++] = i;
                    }
                }

                FdPoll.WaitReadable(watched.AsSpan(0, count), ready, -1);
                for (var k = 1; k < count && !_stopping; k++)
                {
                    if (ready[k])
                    {
                        _doorbells[sources[k]]?.Wait();
                        _onReady(sources[k] - 1);
                    }
                }
            }
        }
        catch (Exception e) when (e is VirtqueueException or GuestMemoryException)
        {
            _activation.Fail(e.Message);
        }
        catch (Exception e) when (e is IOException or KvmException or InvalidOperationException or ArgumentException)
        {
            _activation.Fail($"device thread stopped: {e.Message}");
        }
    }
}
