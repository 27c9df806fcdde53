using Sharpvisor.Kvm;

namespace Sharpvisor.Vmm.Devices.Virtio.Console;

/// <summary>
/// virtio-console (virtio 1.2, 5.3) with a single port and no MULTIPORT: Linux's hvc0. What the guest transmits
/// goes to <see cref="Output"/>; host input is buffered (up to <see cref="InputBufferLimit"/>, then dropped, as a
/// UART drops overrun bytes) and handed over as the guest posts receive buffers.
/// </summary>
public sealed partial class VirtioConsole(Stream? output) : ThreadedVirtioDevice
{
    public const int InputBufferLimit = 64 * 1024;
    private const int ReceiveQueue = 0;
    private const int TransmitQueue = 1;
    private const int MaxChunk = 64 * 1024;

    /// <summary>
    /// Largest transmit request served: Linux sends at most a page or two per buffer. A chain can claim up to 4 GiB
    /// (overlapping buffers make that cheap for the guest); one over this is dropped and counted, not copied out.
    /// </summary>
    public const uint MaxTransmitBytes = 1 << 20;

    private readonly Lock _inputLock = new();
    private readonly Queue<byte> _input = new();
    private readonly EventFd _inputReady = new(nonBlocking: true);
    private readonly byte[] _chunk = new byte[MaxChunk];

    public Stream? Output { get; } = output;

    public override VirtioDeviceType Type => VirtioDeviceType.Console;

    public override string Kind => "console";

    public override ulong DeviceFeatures => 0;

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [64, 64];

    /// <summary>cols, rows, max_nr_ports, emerg_wr: all zero without the features that give them meaning.</summary>
    public override int ConfigLength => 12;

    public override void ReadConfig(int offset, Span<byte> data) => data.Clear();


    /// <summary>Host keystrokes for the guest; safe from any thread.</summary>
    public void QueueInput(ReadOnlySpan<byte> bytes)
    {
        lock (_inputLock)
        {
            foreach (var b in bytes[..Math.Min(bytes.Length, InputBufferLimit - _input.Count)])
            {
                _input.Enqueue(b);
            }
        }

        _inputReady.Signal();
    }

    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var rx = activation.Queues[ReceiveQueue];
        var tx = activation.Queues[TransmitQueue];
        List<EventFd> doorbells = [];
        if (rx is not null)
        {
            doorbells.Add(rx.Doorbell);
        }

        if (tx is not null)
        {
            doorbells.Add(tx.Doorbell);
        }

        StartWorker(new DeviceWorker("virtio-console", activation, doorbells, [_inputReady.Handle], _ =>
        {
            _inputReady.Wait();
            if (tx is not null)
            {
                Transmit(tx, activation);
            }

            if (rx is not null)
            {
                Receive(rx);
            }
        }));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _inputReady.Dispose();
        }
    }

    private void Transmit(VirtioQueue queue, VirtioActivation activation) => queue.ServeAvailable(chain =>
    {
        if (chain.ReadableLength > MaxTransmitBytes)
        {
            activation.GuestError($"transmit request of {chain.ReadableLength} bytes is over the {MaxTransmitBytes}-byte limit; dropped");
            return 0;
        }

        for (ulong offset = 0; offset < chain.ReadableLength; offset += MaxChunk)
        {
            var copied = chain.CopyFromReadable(queue.Memory, _chunk, (uint)offset);
            Output?.Write(_chunk, 0, copied);
        }

        Output?.Flush();
        return 0;
    });

    private void Receive(VirtioQueue queue)
    {
        var ring = queue.Ring;
        var memory = queue.Memory;
        while (!queue.YieldIfHeld())
        {
            int count;
            lock (_inputLock)
            {
                count = Math.Min(_input.Count, MaxChunk);
                if (count == 0)
                {
                    return;
                }
            }

            if (!queue.TryPop(out var chain))
            {
                if (!ring.EnableNotifications(memory))
                {
                    return; // the next posted buffer rings the doorbell
                }

                continue; // a buffer arrived while notifications were off: no doorbell will come for it
            }

            lock (_inputLock)
            {
                count = Math.Min(Math.Min(_input.Count, MaxChunk), (int)Math.Min(chain.WritableLength, (uint)MaxChunk));
                for (var i = 0; i < count; i++)
                {
                    _chunk[i] = _input.Dequeue();
                }
            }

            var written = chain.CopyToWritable(memory, _chunk.AsSpan(0, count));
            ring.Push(memory, chain.HeadIndex, (uint)written);
            queue.NotifyIfNeeded();
        }
    }
}
