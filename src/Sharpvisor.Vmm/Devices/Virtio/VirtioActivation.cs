using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>What a device gets when the driver starts it: the negotiated features, its queues and a way to give up.</summary>
public sealed class VirtioActivation(GuestMemory memory, ulong features, IReadOnlyList<VirtioQueue?> queues, IVirtioDeviceEvents events)
{
    /// <summary>
    /// False while the guest has the function's Bus Master bit clear: the device must not touch guest memory (the
    /// rings and buffers are DMA). Device threads look before serving a source; see <see cref="DeviceWorker"/>.
    /// </summary>
    public bool DmaAllowed => events.DmaAllowed;

    public GuestMemory Memory { get; } = memory;

    public ulong Features { get; } = features;

    public IReadOnlyList<VirtioQueue?> Queues { get; } = queues;

    public bool HasFeature(int bit) => (Features & (1UL << bit)) != 0;

    /// <summary>
    /// The driver broke the contract (a bad chain, memory outside RAM): the device stops and sets NEEDS_RESET; the
    /// message is logged once per activation. Safe from device threads.
    /// </summary>
    public void Fail(string message)
    {
        if (!Revoked)
        {
            events.Fail(message);
        }
    }

    /// <summary>
    /// Set by the transport when it resets the device: from then on nothing this activation's threads do reaches the
    /// driver (no NEEDS_RESET, no interrupt, no more chains served), even from a thread abandoned past its deadline.
    /// </summary>
    public bool Revoked
    {
        get => Volatile.Read(ref _revoked);
        internal set
        {
            Volatile.Write(ref _revoked, value);
            foreach (var queue in Queues)
            {
                queue?.Revoke();
            }
        }
    }

    private bool _revoked;

    /// <summary>Holds or releases every queue while the device is quiesced (see <see cref="VirtioQueue.YieldIfHeld"/>).</summary>
    internal void Hold(bool held)
    {
        foreach (var queue in Queues)
        {
            queue?.Hold(held);
        }
    }

    /// <summary>The driver did something the device refuses but survives (a runt frame, an oversized request): counted, rarely logged.</summary>
    public void GuestError(string message)
    {
        if (!Revoked)
        {
            events.GuestError(message);
        }
    }
}

/// <summary>What the transport does for a device: raise its interrupts and mark it broken.</summary>
public interface IVirtioDeviceEvents
{
    void SignalQueue(int queue);

    void SignalConfigChange();

    void Fail(string message);

    void GuestError(string message);

    /// <summary>The PCI command register's Bus Master bit (always true for a transport without one).</summary>
    bool DmaAllowed { get; }
}
