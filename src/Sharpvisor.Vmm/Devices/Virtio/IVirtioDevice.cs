namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A virtio device as its transport sees it. The device does not know the transport: it offers features,
/// queues and a config area, is activated with the queues the driver set up, and is reset. Config accesses come
/// from vCPU threads; the queues are served by the device's own threads between <see cref="Activate"/> and
/// <see cref="Reset"/>.
/// </summary>
public interface IVirtioDevice : IDisposable
{
    VirtioDeviceType Type { get; }

    /// <summary>The device's short name in metrics and on the control socket (<c>block</c>, <c>net</c> ...).</summary>
    string Kind { get; }

    /// <summary>Device-specific feature bits offered (the transport adds <see cref="VirtioFeatures.Common"/>).</summary>
    ulong DeviceFeatures { get; }

    /// <summary>The largest size of each queue; the count is the device's number of queues.</summary>
    IReadOnlyList<ushort> QueueMaxSizes { get; }

    /// <summary>Bytes of device-specific config space.</summary>
    int ConfigLength { get; }

    /// <summary>Reads config bytes at <paramref name="offset"/>; the transport keeps the access inside <see cref="ConfigLength"/>.</summary>
    void ReadConfig(int offset, Span<byte> data);

    void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK: start serving the queues. Queues the driver did not enable are null.</summary>
    void Activate(VirtioActivation activation);

    /// <summary>The device's own event counters for the metrics (<c>completed</c>, <c>rx_frames</c> ...); none by default.</summary>
    IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>
    /// Stops serving the queues. True when no device thread touches guest memory any more; false when a thread stuck
    /// in a request did not stop within its deadline and was abandoned (the transport then marks the device broken).
    /// </summary>
    bool Reset();
}
