using System.Diagnostics.CodeAnalysis;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// One enabled queue as a device serves it: the ring, the doorbell the driver rings (an eventfd KVM signals on the
/// notify write, so a vCPU never waits for the device) and the used-buffer interrupt.
/// </summary>
public sealed class VirtioQueue(int index, SplitVirtqueue ring, EventFd doorbell, GuestMemory memory, IVirtioDeviceEvents events)
{
    public int Index { get; } = index;

    public SplitVirtqueue Ring { get; } = ring;

    /// <summary>Signalled on every driver notification for this queue.</summary>
    public EventFd Doorbell { get; } = doorbell;

    public GuestMemory Memory { get; } = memory;

    /// <summary>The one chain this queue's device thread pops into: serving a buffer allocates nothing.</summary>
    private readonly DescriptorChain _chain = new();

    /// <summary>Takes the next available chain; it stays valid until the next pop from this queue.</summary>
    public bool TryPop([NotNullWhen(true)] out DescriptorChain? chain)
    {
        chain = Ring.TryPop(Memory, _chain) ? _chain : null;
        return chain is not null;
    }

    private volatile bool _revoked;
    private volatile bool _held;

    /// <summary>The device was reset: this queue serves and signals nothing more (see <see cref="VirtioActivation.Revoked"/>).</summary>
    internal void Revoke() => _revoked = true;

    /// <summary>Set while the device is quiesced (<see cref="DeviceWorker.Quiesce"/>): the queue takes no new chain.</summary>
    internal void Hold(bool held) => _held = held;

    /// <summary>
    /// True while the device is quiesced: the caller takes no new chain and returns. The doorbell is rung, so the
    /// device thread comes back for what waits in the ring once the hold ends; a device restored from the state looks at
    /// its rings anyway.
    /// </summary>
    public bool YieldIfHeld()
    {
        if (!_held)
        {
            return false;
        }

        Doorbell.Signal();
        return true;
    }

    /// <summary>Interrupts the driver if it asked to hear about the chains pushed since the last call.</summary>
    public void NotifyIfNeeded()
    {
        if (!_revoked && Ring.NeedsNotification(Memory))
        {
            events.SignalQueue(Index);
        }
    }

    /// <summary>
    /// Serves the chains the driver has made available, with driver notifications suppressed while it does:
    /// <paramref name="handle"/> returns the bytes it wrote into the chain, the chain goes back on the used ring
    /// and the driver is interrupted if it asked to be. At most one queue's worth of chains per call: a driver that
    /// keeps posting would otherwise keep the device thread here for ever, deaf to a stop and to its other queues.
    /// When the batch ends with chains still waiting, the doorbell is rung again so the thread comes back for them.
    /// A quiesce ends the batch after the chain being served (<see cref="YieldIfHeld"/>).
    /// </summary>
    public void ServeAvailable(Func<DescriptorChain, uint> handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var budget = (int)Ring.Size;
        do
        {
            Ring.DisableNotifications(Memory);
            while (!_revoked && !YieldIfHeld() && TryPop(out var chain))
            {
                var written = handle(chain);
                Ring.Push(Memory, chain.HeadIndex, written);
                NotifyIfNeeded();
                if (--budget == 0 && !_revoked)
                {
                    _ = Ring.EnableNotifications(Memory);
                    Doorbell.Signal();
                    return;
                }
            }
        }
        while (!_revoked && !_held && Ring.EnableNotifications(Memory));
    }

    /// <summary>
    /// As <see cref="ServeAvailable"/>, a batch at a time: up to <paramref name="chains"/>.Length chains are popped
    /// into those objects, <paramref name="handle"/> serves the first N of them (it may run them at once) and fills
    /// <paramref name="written"/>[i] for each, and then all N go back on the used ring. A batch popped is served
    /// whole before a quiesce takes effect; at most one queue's worth of chains per call, as there.
    /// </summary>
    public void ServeAvailableInBatches(DescriptorChain[] chains, uint[] written, Action<int> handle) =>
        ServeAvailableInBatches(chains, written, long.MaxValue, handle);

    /// <summary>
    /// As above; a batch also ends once its chains' buffers add up to <paramref name="maxBatchBytes"/> (one chain at
    /// least), so a batch of large requests cannot keep a quiesce or a reset waiting for long.
    /// </summary>
    public void ServeAvailableInBatches(DescriptorChain[] chains, uint[] written, long maxBatchBytes, Action<int> handle)
    {
        ArgumentNullException.ThrowIfNull(chains);
        ArgumentNullException.ThrowIfNull(written);
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentOutOfRangeException.ThrowIfLessThan(written.Length, chains.Length);
        var budget = (int)Ring.Size;
        do
        {
            Ring.DisableNotifications(Memory);
            while (!_revoked && !YieldIfHeld())
            {
                var count = 0;
                var bytes = 0L;
                while (count < chains.Length && count < budget && bytes < maxBatchBytes && Ring.TryPop(Memory, chains[count]))
                {
                    bytes += (long)chains[count].ReadableLength + chains[count].WritableLength;
                    count++;
                }

                if (count == 0)
                {
                    break;
                }

                handle(count);
                for (var i = 0; i < count; i++)
                {
                    Ring.Push(Memory, chains[i].HeadIndex, written[i]);
                }

                NotifyIfNeeded();
                budget -= count;
                if (budget == 0 && !_revoked)
                {
                    _ = Ring.EnableNotifications(Memory);
                    Doorbell.Signal();
                    return;
                }
            }
        }
        while (!_revoked && !_held && Ring.EnableNotifications(Memory));
    }
}
