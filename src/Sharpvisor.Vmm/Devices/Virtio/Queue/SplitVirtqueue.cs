using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.InteropServices;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// The device side of one virtio 1.x split virtqueue (virtio 1.2, section 2.7). It holds no guest memory of its own:
/// every call takes the <see cref="GuestMemory"/>, so a test can drive it with a mock driver over a small RAM.
/// The driver runs concurrently and is hostile: each shared value is read once into a local and the copy validated;
/// a contract violation throws <see cref="VirtqueueException"/> (the device then asks for a reset) and never
/// touches memory outside guest RAM. Not thread-safe: one device thread owns a queue.
/// </summary>
public sealed partial class SplitVirtqueue
{
    // Ring layouts (virtio 1.2, 2.7.6 and 2.7.8): a 16-bit flags and a 16-bit idx, the ring, then the event word.
    private const ulong RingHeaderSize = 4;
    private const ulong FlagsOffset = 0;
    private const ulong IndexOffset = 2;
    private const ulong AvailableEntrySize = 2;
    private const ulong UsedEntrySize = 8;

    /// <summary>VIRTQ_AVAIL_F_NO_INTERRUPT: the driver does not want a used-buffer notification (ignored with EVENT_IDX).</summary>
    private const ushort AvailableNoInterrupt = 1;

    /// <summary>VIRTQ_USED_F_NO_NOTIFY: the device does not want available-buffer notifications (not used with EVENT_IDX).</summary>
    private const ushort UsedNoNotify = 1;

    private readonly SplitVirtqueueConfig _config;
    private ushort _nextAvailable;
    private ushort _nextUsed;

    /// <summary>The used index at the last notification decision; the EVENT_IDX rule compares against it.</summary>
    private ushort _signalledUsed;

    /// <summary>Builds the queue; throws <see cref="VirtqueueException"/> when <see cref="Validate"/> finds a problem.</summary>
    public SplitVirtqueue(GuestMemory memory, SplitVirtqueueConfig config)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var error = Validate(memory, config);
        if (error is not null)
        {
            throw new VirtqueueException(error);
        }

        _config = config;
        _nextAvailable = config.NextAvailableIndex;
        _nextUsed = config.NextUsedIndex;
        _signalledUsed = config.NextUsedIndex;
    }

    public ushort Size => _config.Size;

    public SplitVirtqueueConfig Config => _config;

    public bool EventIndex => _config.EventIndex;

    public bool IndirectDescriptors => _config.IndirectDescriptors;

    /// <summary>The avail index of the next chain <see cref="TryPop(GuestMemory, DescriptorChain)"/> returns (for snapshots).</summary>
    public ushort NextAvailableIndex => _nextAvailable;

    /// <summary>The used index the next <see cref="Push"/> writes (for snapshots).</summary>
    public ushort NextUsedIndex => _nextUsed;

    /// <summary>Chains popped and not yet pushed back.</summary>
    public int InFlight => (ushort)(_nextAvailable - _nextUsed);

    public static ulong DescriptorTableSize(ushort size) => (ulong)size * DescriptorChain.DescriptorSize;

    public static ulong AvailableRingSize(ushort size) => RingHeaderSize + (size * AvailableEntrySize) + 2;

    public static ulong UsedRingSize(ushort size) => RingHeaderSize + (size * UsedEntrySize) + 2;

    /// <summary>Checks guest-supplied queue settings; returns null when usable, otherwise a one-line reason.</summary>
    public static string? Validate(GuestMemory memory, SplitVirtqueueConfig config)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var size = config.Size;
        if (size == 0 || size > VirtqueueFeatures.MaxQueueSize || !BitOperations.IsPow2((uint)size))
        {
            return $"queue size {size} is not a power of two in 1..{VirtqueueFeatures.MaxQueueSize}";
        }

        return CheckArea(memory, "descriptor table", config.DescriptorTable, DescriptorTableSize(size), 16)
            ?? CheckArea(memory, "available ring", config.AvailableRing, AvailableRingSize(size), 2)
            ?? CheckArea(memory, "used ring", config.UsedRing, UsedRingSize(size), 4);
    }

    /// <summary>Validates and builds without throwing; <paramref name="error"/> says what was wrong.</summary>
    public static bool TryCreate(GuestMemory memory, SplitVirtqueueConfig config, [NotNullWhen(true)] out SplitVirtqueue? queue, [NotNullWhen(false)] out string? error)
    {
        error = Validate(memory, config);
        queue = error is null ? new SplitVirtqueue(memory, config) : null;
        return queue is not null;
    }

    /// <summary>
    /// Takes the next available chain as a new object the caller may keep (e.g. to complete chains out of order).
    /// Returns false when the ring is empty; throws <see cref="VirtqueueException"/> when the driver broke the contract.
    /// </summary>
    public bool TryPop(GuestMemory memory, [NotNullWhen(true)] out DescriptorChain? chain)
    {
        var popped = new DescriptorChain();
        chain = TryPop(memory, popped) ? popped : null;
        return chain is not null;
    }

    /// <summary>
    /// Takes the next available chain into <paramref name="chain"/>, replacing what it held: the device thread's
    /// allocation-free pop. Returns false when the ring is empty; throws <see cref="VirtqueueException"/> when the
    /// driver broke the contract (the queue does not advance).
    /// </summary>
    public bool TryPop(GuestMemory memory, DescriptorChain chain)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(chain);

        // Acquire: the ring entries and descriptors read below were written before the driver published this index.
        var availableIndex = ReadAcquire(memory, _config.AvailableRing + IndexOffset);
        var pending = (ushort)(availableIndex - _nextAvailable);
        if (pending == 0)
        {
            return false;
        }

        if (pending > _config.Size)
        {
            throw new VirtqueueException($"available index {availableIndex} is {pending} ahead of the device's {_nextAvailable}, more than the queue size {_config.Size}");
        }

        var slot = (ulong)(_nextAvailable & (_config.Size - 1));
        var head = memory.Read<ushort>(_config.AvailableRing + RingHeaderSize + (slot * AvailableEntrySize));
        chain.Fill(memory, _config.DescriptorTable, _config.Size, head, _config.IndirectDescriptors);
        _nextAvailable++;
        return true;
    }

    /// <summary>
    /// Returns a chain to the driver: writes the used element, then publishes the used index with release order so the
    /// driver never sees the index before the element. Call <see cref="NeedsNotification"/> afterwards.
    /// </summary>
    public void Push(GuestMemory memory, ushort headIndex, uint bytesWritten)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(headIndex, _config.Size);
        if (InFlight == 0)
        {
            throw new InvalidOperationException("push without a popped chain");
        }

        var slot = (ulong)(_nextUsed & (_config.Size - 1));
        var element = _config.UsedRing + RingHeaderSize + (slot * UsedEntrySize);
        memory.Write(element, new UsedElement { id = headIndex, len = bytesWritten });
        _nextUsed++;
        WriteRelease(memory, _config.UsedRing + IndexOffset, _nextUsed);
    }

    /// <summary>
    /// Whether the driver wants a used-buffer notification for the chains pushed since the last call: the
    /// NO_INTERRUPT flag without EVENT_IDX, the used_event rule (vring_need_event) with it.
    /// </summary>
    public bool NeedsNotification(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);

        // Full fence: the used index store above must be visible before we read the driver's suppression state,
        // else driver and device can each miss the other's update and the driver sleeps forever.
        Interlocked.MemoryBarrier();
        var newUsed = _nextUsed;
        var oldUsed = _signalledUsed;
        _signalledUsed = newUsed;
        if (_config.EventIndex)
        {
            var usedEvent = memory.Read<ushort>(_config.AvailableRing + RingHeaderSize + (_config.Size * AvailableEntrySize));
            return NeedEvent(usedEvent, newUsed, oldUsed);
        }

        var flags = memory.Read<ushort>(_config.AvailableRing + FlagsOffset);
        return (flags & AvailableNoInterrupt) == 0 && newUsed != oldUsed;
    }

    /// <summary>
    /// The driver should notify again when it adds buffers. Returns true when buffers arrived while notifications
    /// were off, so the caller pops again instead of waiting for a notification that will not come.
    /// </summary>
    public bool EnableNotifications(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (_config.EventIndex)
        {
            // Notify when the avail index moves past the next entry we would read.
            memory.Write(AvailableEventAddress, _nextAvailable);
        }
        else
        {
            memory.Write(_config.UsedRing + FlagsOffset, (ushort)0);
        }

        // Full fence: our store must be visible before we re-read the driver's index (the mirror of NeedsNotification).
        Interlocked.MemoryBarrier();
        return memory.Read<ushort>(_config.AvailableRing + IndexOffset) != _nextAvailable;
    }

    /// <summary>
    /// Asks the driver not to notify while the device is draining the queue. With EVENT_IDX there is no flag:
    /// avail_event is simply left where it was, so the driver notifies at most once more (when it crosses it).
    /// </summary>
    public void DisableNotifications(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!_config.EventIndex)
        {
            memory.Write(_config.UsedRing + FlagsOffset, UsedNoNotify);
        }
    }

    /// <summary>vring_need_event: notify when new_idx has passed event_idx since old_idx, in 16-bit modular arithmetic.</summary>
    public static bool NeedEvent(ushort eventIndex, ushort newIndex, ushort oldIndex) =>
        (ushort)(newIndex - eventIndex - 1) < (ushort)(newIndex - oldIndex);

    private GuestAddress AvailableEventAddress => _config.UsedRing + RingHeaderSize + (_config.Size * UsedEntrySize);

    private static string? CheckArea(GuestMemory memory, string name, GuestAddress address, ulong length, ulong alignment)
    {
        if (address.Value % alignment != 0)
        {
            return $"{name} address {address} is not {alignment}-byte aligned";
        }

        // IsValid also refuses a range that wraps the address space or crosses into the MMIO hole.
        if (address.Value > ulong.MaxValue - length || !memory.IsValid(address, length))
        {
            return $"{name} [{address}, +0x{length:x}) is not inside one region of guest RAM";
        }

        return null;
    }

    private static ushort ReadAcquire(GuestMemory memory, GuestAddress address) =>
        Volatile.Read(ref MemoryMarshal.Cast<byte, ushort>(memory.GetSpan(address, sizeof(ushort)))[0]);

    private static void WriteRelease(GuestMemory memory, GuestAddress address, ushort value)
    {
        Volatile.Write(ref MemoryMarshal.Cast<byte, ushort>(memory.GetSpan(address, sizeof(ushort)))[0], value);
        memory.MarkDirty(address, sizeof(ushort));
    }

    /// <summary>struct virtq_used_elem.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct UsedElement
    {
        public uint id;
        public uint len;
    }
}
