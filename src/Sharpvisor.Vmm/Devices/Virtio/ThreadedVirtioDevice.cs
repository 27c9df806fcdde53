using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A virtio device served by one <see cref="DeviceWorker"/> thread from activation to reset: the lifecycle every
/// device here shares, a quiesce for snapshots included. Subclasses describe themselves and start their worker in
/// <see cref="Activate"/>; those with state of their own save it by overriding the <see cref="IVirtioDeviceState"/> methods.
/// </summary>
public abstract class ThreadedVirtioDevice : IVirtioDevice, IQuiescentDevice, IVirtioDeviceState
{
    private DeviceWorker? _worker;
    private bool _quiesced; // a worker started meanwhile (a restore activating the device) starts held

    public abstract VirtioDeviceType Type { get; }

    public abstract string Kind { get; }

    public abstract ulong DeviceFeatures { get; }

    public abstract IReadOnlyList<ushort> QueueMaxSizes { get; }

    public abstract int ConfigLength { get; }

    /// <summary>The device's own event counters for the metrics; none unless a device has some.</summary>
    public virtual IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>The running worker, for a device callback that pauses one of its sources.</summary>
    protected DeviceWorker? Worker => _worker;

    public abstract void ReadConfig(int offset, Span<byte> data);

    /// <summary>None of the devices here has a writable config field without features they do not offer.</summary>
    public virtual void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
    }

    public abstract void Activate(VirtioActivation activation);

    /// <summary>Stops the worker within <see cref="DeviceWorker.ResetDeadline"/>; false when it was stuck and abandoned.</summary>
    public bool Reset()
    {
        if (!StopWorker(DeviceWorker.ResetDeadline))
        {
            return false;
        }

        OnReset();
        return true;
    }

    /// <summary>
    /// Waits, within <paramref name="deadline"/>, for the worker to park with every chain it took given back. Until
    /// <see cref="Unquiesce"/>, a worker started by an activation (a restore's) starts parked too.
    /// </summary>
    public void Quiesce(TimeSpan deadline)
    {
        _quiesced = true;
        if (_worker is { } worker && !worker.Quiesce(deadline))
        {
            _quiesced = false;
            throw new StateException($"virtio-{Kind}: a request did not complete within {deadline.TotalMilliseconds:0} ms of the quiesce (a backend that does not answer); the device goes on");
        }
    }

    public void Unquiesce()
    {
        _quiesced = false;
        _worker?.Unquiesce();
    }

    /// <summary>Nothing of its own by default.</summary>
    public virtual void SaveDeviceState(StatePayload payload)
    {
    }

    /// <summary>Nothing of its own by default: nothing to read, nothing to put back.</summary>
    public virtual Action ReadDeviceState(ref StatePayloadReader reader, string section) => () => { };

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs <paramref name="worker"/> until the next reset.</summary>
    protected void StartWorker(DeviceWorker worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        _worker = worker;
        if (_quiesced)
        {
            _ = worker.Quiesce(TimeSpan.Zero); // not started yet: it starts parked
        }

        worker.Start();
    }

    /// <summary>After a reset that stopped the worker: drop what the device held for the driver that reset it.</summary>
    protected virtual void OnReset()
    {
    }

    /// <summary>Stops the worker within <see cref="DeviceWorker.TeardownDeadline"/>; subclasses then close their backends.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _ = StopWorker(DeviceWorker.TeardownDeadline);
        }
    }

    private bool StopWorker(TimeSpan deadline)
    {
        var worker = _worker;
        if (worker is null)
        {
            return true;
        }

        // Cleared only once the thread is told to stop: its callbacks reach the worker through this field.
        var stopped = worker.Stop(deadline);
        _worker = null;
        worker.Dispose();
        return stopped;
    }
}
