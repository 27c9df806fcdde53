using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Net;

/// <summary>
/// virtio-net (virtio 1.2, 5.1) on an <see cref="INetBackend"/>: one receive and one transmit queue, a MAC address
/// and link status, no offloads (so every frame carries a zeroed 12-byte virtio_net_hdr). When the guest has posted
/// no receive buffers the device stops reading the backend, leaving frames queued on the host side
/// (backpressure), and resumes when the guest posts some.
/// </summary>
public sealed partial class VirtioNet : ThreadedVirtioDevice
{
    public const int MacBit = 5;
    public const int StatusBit = 16;
    public const int HeaderSize = 12;
    public const ushort QueueSize = 256;

    /// <summary>Smallest frame a TAP takes: destination, source and EtherType (a shorter write fails with EINVAL).</summary>
    public const int MinFrame = 14;

    /// <summary>Largest frame moved either way: 64 KiB covers any MTU a guest can set without offloads.</summary>
    public const int MaxFrame = 65536;

    private const int ReceiveQueue = 0;
    private const int TransmitQueue = 1;
    private const int ConfigSize = 10;
    private const ushort LinkUp = 1;

    private readonly INetBackend _backend;
    private readonly byte[] _config = new byte[ConfigSize];
    private readonly byte[] _frame = new byte[HeaderSize + MaxFrame];

    /// <summary>Transmit's own buffer: <see cref="_frame"/> may hold a received frame waiting for a receive buffer.</summary>
    private readonly byte[] _txFrame = new byte[MaxFrame];
    private int _pendingLength;
    private long _rxFrames;
    private long _txFrames;
    private long _txDropped;

    public VirtioNet(INetBackend backend, ReadOnlySpan<byte> mac)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (mac.Length != 6)
        {
            throw new ArgumentException("a MAC address has 6 bytes", nameof(mac));
        }

        _backend = backend;
        mac.CopyTo(_config);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(6), LinkUp);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(8), 1); // max_virtqueue_pairs
    }

    public override VirtioDeviceType Type => VirtioDeviceType.Net;

    public override string Kind => "net";

    public override ulong DeviceFeatures => (1UL << MacBit) | (1UL << StatusBit);

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [QueueSize, QueueSize];

    public override int ConfigLength => ConfigSize;

    public long ReceivedFrames => Interlocked.Read(ref _rxFrames);

    public long TransmittedFrames => Interlocked.Read(ref _txFrames);

    public long TransmitDropped => Interlocked.Read(ref _txDropped);

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["rx_frames"] = ReceivedFrames,
        ["tx_frames"] = TransmittedFrames,
        ["tx_dropped"] = TransmitDropped,
    };

    public override void ReadConfig(int offset, Span<byte> data) => _config.AsSpan(offset, data.Length).CopyTo(data);


    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var rx = activation.Queues[ReceiveQueue];
        var tx = activation.Queues[TransmitQueue];
        if (rx is null || tx is null)
        {
            return;
        }

        const int rxSource = 0, txSource = 1, backendSource = 2;
        StartWorker(new DeviceWorker("virtio-net", activation, [rx.Doorbell, tx.Doorbell], [_backend.ReadableHandle], source =>
        {
            if (source == txSource)
            {
                Transmit(tx, activation);
            }

            if (source is rxSource or backendSource)
            {
                // Paused while the guest has no buffers; the rx doorbell resumes it.
                Worker!.Pause(backendSource, !Receive(rx));
            }
        }));
    }

    /// <summary>A frame held for the driver that reset the device is dropped (a restored one is kept until activation).</summary>
    protected override void OnReset() => _pendingLength = 0;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _backend.Dispose();
        }
    }

    private void Transmit(VirtioQueue queue, VirtioActivation activation) => queue.ServeAvailable(chain =>
    {
        var length = (long)chain.ReadableLength - HeaderSize;
        var sent = false;
        if (length is >= MinFrame and <= MaxFrame)
        {
            var copied = chain.CopyFromReadable(queue.Memory, _txFrame.AsSpan(0, (int)length), HeaderSize);
            sent = _backend.Send(_txFrame.AsSpan(0, copied));
        }
        else
        {
            activation.GuestError($"transmitted frame of {length} bytes is outside {MinFrame}-{MaxFrame}; dropped");
        }

        // No frame, one no NIC sends, or one the host refused: dropped, as on a wire; the NIC goes on.
        Interlocked.Increment(ref sent ? ref _txFrames : ref _txDropped);
        return 0;
    });

    /// <summary>Moves waiting frames into receive buffers; false when a frame waits and the guest has no buffer for it.</summary>
    private bool Receive(VirtioQueue queue)
    {
        var ring = queue.Ring;
        var memory = queue.Memory;
        for (var budget = (int)ring.Size; ; budget--)
        {
            if (budget == 0)
            {
                return true; // a host flooding the TAP: the thread checks for a stop and its other queue, then comes back
            }

            if (queue.YieldIfHeld())
            {
                return true; // quiesced: a frame read already stays held (and saved); the rx doorbell brings us back
            }

            if (_pendingLength == 0)
            {
                _pendingLength = _backend.Receive(_frame.AsSpan(HeaderSize));
                if (_pendingLength == 0)
                {
                    return true;
                }
            }

            if (!queue.TryPop(out var chain))
            {
                if (!ring.EnableNotifications(memory))
                {
                    return false;
                }

                continue;
            }

            // virtio_net_hdr_v1: no checksum or GSO work to describe; num_buffers = 1 (one buffer per frame).
            var packet = _frame.AsSpan(0, HeaderSize + _pendingLength);
            packet[..HeaderSize].Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(packet[10..], 1);
            uint written = 0;
            if (chain.WritableLength >= packet.Length)
            {
                written = (uint)chain.CopyToWritable(memory, packet);
                Interlocked.Increment(ref _rxFrames);
            }

            _pendingLength = 0; // delivered, or too big for the buffer the guest gave: dropped either way
            ring.Push(memory, chain.HeadIndex, written);
            queue.NotifyIfNeeded();
        }
    }
}
