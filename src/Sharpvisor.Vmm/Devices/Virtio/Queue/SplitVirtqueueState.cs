using System.Diagnostics.CodeAnalysis;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// What the device side of a running split virtqueue keeps beyond the driver's settings and guest RAM: the avail
/// index it takes next, the used index it publishes next, and the used index of its last notification decision (the
/// EVENT_IDX rule compares against it; avail_event and used_event themselves live in RAM). Saved as three u16.
/// </summary>
public readonly record struct SplitVirtqueueState(ushort NextAvailable, ushort NextUsed, ushort SignalledUsed)
{
    public void Write(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.U16(NextAvailable).U16(NextUsed).U16(SignalledUsed);
    }

    /// <summary>
    /// Reads what <see cref="Write"/> wrote for queue <paramref name="queue"/>. Any u16 is an index; but a chain taken
    /// and not given back would never complete after a restore (nothing holds it any more), so the two must be equal,
    /// as a quiesced device leaves them.
    /// </summary>
    public static SplitVirtqueueState Read(ref StatePayloadReader reader, string section, int queue)
    {
        var nextAvailable = reader.U16();
        var nextUsed = reader.U16();
        var signalledUsed = reader.U16();
        StateFields.Require(
            nextAvailable == nextUsed,
            section,
            $"queue {queue} has {(ushort)(nextAvailable - nextUsed)} chains in flight (next available {nextAvailable}, next used {nextUsed}): it was saved without a quiesce");
        return new SplitVirtqueueState(nextAvailable, nextUsed, signalledUsed);
    }
}

/// <summary>The queue's side of <see cref="SplitVirtqueueState"/>.</summary>
public sealed partial class SplitVirtqueue
{
    /// <summary>The runtime state now; read it only while the queue's device thread is quiesced or stopped.</summary>
    public SplitVirtqueueState State => new(_nextAvailable, _nextUsed, _signalledUsed);

    /// <summary>
    /// <see cref="TryCreate"/> for a queue that goes on from <paramref name="state"/>: the guest's settings are checked
    /// as for a new queue, the indices are any the state holds.
    /// </summary>
    public static bool TryRestore(
        GuestMemory memory, SplitVirtqueueConfig config, SplitVirtqueueState state, [NotNullWhen(true)] out SplitVirtqueue? queue, [NotNullWhen(false)] out string? error)
    {
        if (!TryCreate(memory, config with { NextAvailableIndex = state.NextAvailable, NextUsedIndex = state.NextUsed }, out queue, out error))
        {
            return false;
        }

        queue._signalledUsed = state.SignalledUsed;
        return true;
    }
}
