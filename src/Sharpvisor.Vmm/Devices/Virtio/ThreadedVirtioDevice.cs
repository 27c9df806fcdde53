namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A virtio device served by one <see cref="DeviceWorker"/> thread from activation to reset: the lifecycle every
/// device here shares. Subclasses describe themselves and start their worker in <see cref="Activate"/>.
/// </summary>
public abstract class ThreadedVirtioDevice : IVirtioDevice
{
    private DeviceWorker? _worker;

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
    public bool Reset() => StopWorker(DeviceWorker.ResetDeadline);

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
        worker.Start();
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
