using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Kvm;

namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>
/// virtio-input (virtio 1.2, 5.8): a keyboard or a tablet fed by the display's clients. Events are queued from any
/// thread (bounded: past <see cref="MaxPendingEvents"/> a whole report is dropped, as a real keyboard's buffer would
/// overflow) and the device thread hands them to the buffers the guest posts on the event queue, one 8-byte event
/// each. What the guest sends on the status queue (LEDs) is taken and ignored.
/// </summary>
public sealed partial class VirtioInput : ThreadedVirtioDevice
{
    public const int MaxPendingEvents = 1024;

    private const int EventQueue = 0;
    private const int StatusQueue = 1;
    private const int ConfigSize = 8 + 128;

    private readonly InputDescription _description;
    private readonly Lock _lock = new();
    private readonly Queue<InputEvent> _pending = new();
    private readonly EventFd _eventsReady = new(nonBlocking: true);
    private readonly byte[] _config = new byte[ConfigSize];
    private long _dropped;
    private bool _disposed;

    private VirtioInput(InputDescription description, string kind)
    {
        _description = description;
        Kind = kind;
    }

    /// <summary>A PC keyboard (Linux key codes 1 to 248).</summary>
    public static VirtioInput CreateKeyboard() => new(InputDescription.Keyboard, "keyboard");

    /// <summary>An absolute pointer, axes 0..32767, three buttons and a wheel.</summary>
    public static VirtioInput CreateTablet() => new(InputDescription.Tablet, "tablet");

    public override VirtioDeviceType Type => VirtioDeviceType.Input;

    public override string Kind { get; }

    public override ulong DeviceFeatures => 0;

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [64, 64];

    public override int ConfigLength => ConfigSize;

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["dropped_events"] = Interlocked.Read(ref _dropped),
    };

    /// <summary>
    /// Queues one report (its events, then SYN_REPORT) for the guest; false when the queue is full and the report
    /// was dropped whole (a guest that posts no buffers must not make the host hold input for ever).
    /// </summary>
    internal bool Send(ReadOnlySpan<InputEvent> events)
    {
        lock (_lock)
        {
            if (_disposed || _pending.Count + events.Length + 1 > MaxPendingEvents)
            {
                Interlocked.Increment(ref _dropped);
                return false;
            }

            foreach (var e in events)
            {
                _pending.Enqueue(e);
            }

            _pending.Enqueue(InputEvent.Sync);
            _eventsReady.Signal(); // under the lock: Dispose closes it under the lock too
        }

        return true;
    }

    public override void ReadConfig(int offset, Span<byte> data)
    {
        lock (_lock)
        {
            _config.AsSpan(offset, data.Length).CopyTo(data);
        }
    }

    /// <summary>The driver writes select (offset 0) and subsel (1); the device answers in size and the union.</summary>
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                if (offset + i is 0 or 1)
                {
                    _config[offset + i] = data[i];
                }
            }

            var union = _config.AsSpan(8);
            union.Clear();
            _config[2] = (byte)Describe(_config[0], _config[1], union);
        }
    }

    /// <summary>Fills the config union for (select, subsel) and returns its size; 0 for anything the device does not have.</summary>
    private int Describe(byte select, byte subsel, Span<byte> union)
    {
        switch (select)
        {
            case 0x01 when subsel == 0: // ID_NAME
                return Encoding.ASCII.GetBytes(_description.Name, union);
            case 0x02 when subsel == 0: // ID_SERIAL
                return Encoding.ASCII.GetBytes(_description.Serial, union);
            case 0x03 when subsel == 0: // ID_DEVIDS: bustype, vendor, product, version
                BinaryPrimitives.WriteUInt16LittleEndian(union, InputCodes.BusVirtual);
                BinaryPrimitives.WriteUInt16LittleEndian(union[2..], 0x0627); // QEMU's vendor id, which guests already know
                BinaryPrimitives.WriteUInt16LittleEndian(union[4..], _description.Product);
                BinaryPrimitives.WriteUInt16LittleEndian(union[6..], 1);
                return 8;
            case 0x10 when subsel == 0: // PROP_BITS: none
                return 0;
            case 0x11 when _description.Events.TryGetValue(subsel, out var codes): // EV_BITS
                var size = 0;
                foreach (var code in codes)
                {
                    union[code / 8] |= (byte)(1 << (code % 8));
                    size = Math.Max(size, (code / 8) + 1);
                }

                return size;
            case 0x12 when _description.Axes.TryGetValue(subsel, out var axis): // ABS_INFO: min, max, fuzz, flat, res
                BinaryPrimitives.WriteInt32LittleEndian(union, axis.Min);
                BinaryPrimitives.WriteInt32LittleEndian(union[4..], axis.Max);
                return 20;
            default:
                return 0;
        }
    }

    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var events = activation.Queues[EventQueue];
        var status = activation.Queues[StatusQueue];
        List<EventFd> doorbells = [];
        if (events is not null)
        {
            doorbells.Add(events.Doorbell);
        }

        if (status is not null)
        {
            doorbells.Add(status.Doorbell);
        }

        StartWorker(new DeviceWorker($"virtio-{Kind}", activation, doorbells, [_eventsReady.Handle], _ =>
        {
            _eventsReady.Wait();
            status?.ServeAvailable(_ => 0);
            if (events is not null)
            {
                Deliver(events);
            }
        }));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            lock (_lock)
            {
                _disposed = true;
                _eventsReady.Dispose();
            }
        }
    }

    /// <summary>One pending event per posted buffer, until either runs out.</summary>
    private void Deliver(VirtioQueue queue)
    {
        Span<byte> bytes = stackalloc byte[InputEvent.Size];
        while (!queue.YieldIfHeld())
        {
            lock (_lock)
            {
                if (_pending.Count == 0)
                {
                    return;
                }
            }

            if (!queue.TryPop(out var chain))
            {
                if (!queue.Ring.EnableNotifications(queue.Memory))
                {
                    return; // the next posted buffer rings the doorbell
                }

                continue; // a buffer arrived while notifications were off: no doorbell will come for it
            }

            lock (_lock)
            {
                _pending.Dequeue().Write(bytes);
            }

            var written = chain.CopyToWritable(queue.Memory, bytes);
            queue.Ring.Push(queue.Memory, chain.HeadIndex, (uint)written);
            queue.NotifyIfNeeded();
        }
    }
}
