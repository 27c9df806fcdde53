using Sharpvisor.Vmm.Bus;
using static Sharpvisor.Vmm.Devices.Legacy.UartRegisters;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// A 16550A UART as found on COM1 (port 0x3f8, ISA IRQ 4). Transmission is instantaneous: a byte written
/// to THR goes straight to the output stream and THR is empty again at once. Received bytes come from a
/// host thread through <see cref="QueueInput"/> into a bounded host-side queue that feeds the 16-byte
/// receive FIFO as the guest drains it, so host input is throttled, never dropped.
/// </summary>
public sealed partial class Uart16550 : IBusDevice
{
    public const int DefaultHostQueueCapacity = 4096;
    private const int FifoCapacity = 16;

    // Not a System.Threading.Lock: QueueInput waits on this monitor for the guest to make room.
    private readonly object _lock = new();
    private readonly IInterruptLine _interrupt;
    private readonly int _hostQueueCapacity;
    private readonly Queue<byte> _hostQueue = new();
    private readonly Queue<byte> _receiveFifo = new(FifoCapacity);
    private Stream? _output;

    private byte _interruptEnable;
    private byte _lineControl;
    private byte _modemControl;
    private byte _scratch;
    private byte _divisorLow = 0x01; // 115200 baud: nothing depends on it, but guests read it back
    private byte _divisorHigh;
    private byte _lastReceived;
    private bool _fifoEnabled;
    private int _receiveTriggerLevel = 1;
    private bool _transmitterEmptyInterruptPending;
    private bool _overrun;
    private byte _modemInputs = DisconnectedModemInputs;
    private byte _modemDeltas;
    private bool _lineAsserted;

    // Outside loopback the other end of the wire is the host, which is always ready: clear-to-send,
    // data-set-ready and carrier asserted, so guests that honour flow control keep talking.
    private const byte DisconnectedModemInputs = ModemStatusCts | ModemStatusDsr | ModemStatusDcd;

    /// <param name="interrupt">The line to ISA IRQ 4. It is driven under the device lock and must not call back into the UART.</param>
    /// <param name="output">Where transmitted bytes go; null discards them.</param>
    /// <param name="hostQueueCapacity">How many received bytes may wait for the guest before <see cref="QueueInput"/> blocks.</param>
    public Uart16550(IInterruptLine interrupt, Stream? output, int hostQueueCapacity = DefaultHostQueueCapacity)
    {
        ArgumentNullException.ThrowIfNull(interrupt);
        ArgumentOutOfRangeException.ThrowIfLessThan(hostQueueCapacity, 1);
        _interrupt = interrupt;
        _output = output;
        _hostQueueCapacity = hostQueueCapacity;
    }

    private bool DivisorLatchSelected => (_lineControl & LineControlDivisorLatch) != 0;

    private bool Loopback => (_modemControl & ModemControlLoopback) != 0;

    private int ReceiveCapacity => _fifoEnabled ? FifoCapacity : 1;

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var register = offset + (ulong)i;
                data[i] = register < Count ? ReadRegister((int)register) : (byte)0xff;
            }

            UpdateInterruptLine();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var register = offset + (ulong)i;
                if (register < Count)
                {
                    WriteRegister((int)register, data[i]);
                }
            }

            UpdateInterruptLine();
        }
    }

    /// <summary>
    /// Hands bytes typed on the host to the guest. Blocks while the host-side queue is full, until the guest
    /// reads enough or <paramref name="cancellationToken"/> fires; on cancellation the bytes already queued stay queued.
    /// </summary>
    public void QueueInput(ReadOnlySpan<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        using var wakeOnCancel = cancellationToken.CanBeCanceled
            ? cancellationToken.Register(static state => ((Uart16550)state!).WakeBlockedWriters(), this)
            : default;

        lock (_lock)
        {
            var remaining = bytes;
            while (true)
            {
                var accepted = Math.Min(_hostQueueCapacity - _hostQueue.Count, remaining.Length);
                foreach (var b in remaining[..accepted])
                {
                    _hostQueue.Enqueue(b);
                }

                remaining = remaining[accepted..];
                MoveHostInputIntoFifo();
                UpdateInterruptLine();
                if (remaining.IsEmpty)
                {
                    return;
                }

                if (_hostQueue.Count < _hostQueueCapacity)
                {
                    continue;
                }

                cancellationToken.ThrowIfCancellationRequested();
                Monitor.Wait(_lock);
            }
        }
    }

    /// <summary>Pushes buffered output to the underlying stream; call before the process exits.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            try
            {
                _output?.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                _output = null;
            }
        }
    }

    private byte ReadRegister(int register) => register switch
    {
        Data when DivisorLatchSelected => _divisorLow,
        Data => ReadReceiveBuffer(),
        InterruptEnable when DivisorLatchSelected => _divisorHigh,
        InterruptEnable => _interruptEnable,
        InterruptId => ReadInterruptId(),
        LineControl => _lineControl,
        ModemControl => _modemControl,
        LineStatus => ReadLineStatus(),
        ModemStatus => ReadModemStatus(),
        _ => _scratch,
    };

    private void WriteRegister(int register, byte value)
    {
        switch (register)
        {
            case Data when DivisorLatchSelected:
                _divisorLow = value;
                break;
            case Data:
                Transmit(value);
                break;
            case InterruptEnable when DivisorLatchSelected:
                _divisorHigh = value;
                break;
            case InterruptEnable:
                WriteInterruptEnable(value);
                break;
            case InterruptId:
                WriteFifoControl(value);
                break;
            case LineControl:
                _lineControl = value;
                break;
            case ModemControl:
                WriteModemControl(value);
                break;
            case Scratch:
                _scratch = value;
                break;
            default:
                // LSR and MSR are read-only (writes reach factory-test latches on real parts).
                break;
        }
    }

    private byte ReadReceiveBuffer()
    {
        // An empty receiver still answers with whatever the holding register last held, as real parts do.
        if (_receiveFifo.TryDequeue(out var value))
        {
            _lastReceived = value;
            MoveHostInputIntoFifo();
        }

        return _lastReceived;
    }

    private byte ReadInterruptId()
    {
        var id = PendingInterruptId();

        // Reading IIR is how a driver acknowledges "THR empty"; the other sources clear when their cause does.
        if (id == IdTransmitterEmpty)
        {
            _transmitterEmptyInterruptPending = false;
        }

        return (byte)(id | (_fifoEnabled ? IdFifosEnabled : 0));
    }

    private byte ReadLineStatus()
    {
        var status = LineStatusThrEmpty | LineStatusTransmitterEmpty;
        if (_receiveFifo.Count > 0)
        {
            status |= LineStatusDataReady;
        }

        if (_overrun)
        {
            status |= LineStatusOverrun;
            _overrun = false;
        }

        return (byte)status;
    }

    private byte ReadModemStatus()
    {
        var status = (byte)(_modemInputs | _modemDeltas);
        _modemDeltas = 0;
        return status;
    }

    private void Transmit(byte value)
    {
        if (Loopback)
        {
            if (_receiveFifo.Count < ReceiveCapacity)
            {
                _receiveFifo.Enqueue(value);
            }
            else
            {
                _overrun = true;
            }
        }
        else
        {
            Emit(value);
        }

        // Writing THR withdraws a pending "THR empty"; the byte leaves at once, so THR is empty again and the
        // interrupt is due anew. Each write therefore earns the next THRE interrupt, as on a real 16550.
        _transmitterEmptyInterruptPending = true;
    }

    private void Emit(byte value)
    {
        if (_output is not { } output)
        {
            return;
        }

        try
        {
            output.WriteByte(value);
            output.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The host end went away (a closed pipe, say). The guest keeps running; its output is dropped.
            _output = null;
        }
    }

    private void WriteInterruptEnable(byte value)
    {
        var enabled = (byte)(value & InterruptEnableMask);

        // Enabling the THRE interrupt while THR is empty (here: always) raises it at once. Linux's 8250
        // driver relies on this when it probes for transmitter bugs at startup.
        if ((enabled & ~_interruptEnable & EnableTransmitterEmpty) != 0)
        {
            _transmitterEmptyInterruptPending = true;
        }

        _interruptEnable = enabled;
    }

    private void WriteFifoControl(byte value)
    {
        var enable = (value & FifoEnable) != 0;
        if (enable != _fifoEnabled)
        {
            // Switching between 16450 and FIFO mode empties the FIFOs.
            _receiveFifo.Clear();
            _fifoEnabled = enable;
        }

        if (!enable)
        {
            // Without the enable bit the other FCR bits are not programmed.
            _receiveTriggerLevel = 1;
        }
        else
        {
            if ((value & FifoClearReceive) != 0)
            {
                _receiveFifo.Clear();
            }

            _receiveTriggerLevel = (value >> FifoTriggerShift) switch
            {
                0 => 1,
                1 => 4,
                2 => 8,
                _ => 14,
            };
        }

        MoveHostInputIntoFifo();
    }

    private void WriteModemControl(byte value)
    {
        _modemControl = (byte)(value & ModemControlMask);
        var inputs = ModemInputs(_modemControl);
        var changed = inputs ^ _modemInputs;
        if ((changed & ModemStatusCts) != 0)
        {
            _modemDeltas |= ModemStatusDeltaCts;
        }

        if ((changed & ModemStatusDsr) != 0)
        {
            _modemDeltas |= ModemStatusDeltaDsr;
        }

        if ((changed & _modemInputs & ModemStatusRi) != 0)
        {
            _modemDeltas |= ModemStatusTrailingEdgeRi;
        }

        if ((changed & ModemStatusDcd) != 0)
        {
            _modemDeltas |= ModemStatusDeltaDcd;
        }

        _modemInputs = inputs;

        // Leaving loopback reconnects the receiver to the host; input that waited meanwhile flows in.
        MoveHostInputIntoFifo();
    }

    private static byte ModemInputs(byte modemControl) =>
        // In loopback the modem inputs are wired to the modem outputs inside the chip.
        (modemControl & ModemControlLoopback) != 0
            ? (byte)(((modemControl & ModemControlRts) << 3) | ((modemControl & ModemControlDtr) << 5) |
                     ((modemControl & (ModemControlOut1 | ModemControlOut2)) << 4))
            : DisconnectedModemInputs;

    private byte PendingInterruptId()
    {
        if ((_interruptEnable & EnableLineStatus) != 0 && _overrun)
        {
            return IdLineStatus;
        }

        if ((_interruptEnable & EnableReceivedData) != 0 && _receiveFifo.Count > 0)
        {
            // Below the trigger level a real FIFO reports a character timeout after four idle character
            // times. Nothing more is coming until the guest reads, so the timeout is taken as elapsed.
            return _fifoEnabled && _receiveFifo.Count < _receiveTriggerLevel ? IdCharacterTimeout : IdReceivedData;
        }

        if ((_interruptEnable & EnableTransmitterEmpty) != 0 && _transmitterEmptyInterruptPending)
        {
            return IdTransmitterEmpty;
        }

        if ((_interruptEnable & EnableModemStatus) != 0 && _modemDeltas != 0)
        {
            return IdModemStatus;
        }

        return IdNone;
    }

    private void MoveHostInputIntoFifo()
    {
        // In loopback the receiver listens to the transmitter only; host input waits.
        if (Loopback)
        {
            return;
        }

        var moved = false;
        while (_receiveFifo.Count < ReceiveCapacity && _hostQueue.TryDequeue(out var value))
        {
            _receiveFifo.Enqueue(value);
            moved = true;
        }

        if (moved)
        {
            Monitor.PulseAll(_lock);
        }
    }

    private void UpdateInterruptLine()
    {
        // The IRQ is not gated by MCR.OUT2 as on PC boards: simple guests that never set OUT2 still get interrupts.
        var asserted = PendingInterruptId() != IdNone;
        if (asserted != _lineAsserted)
        {
            _lineAsserted = asserted;
            _interrupt.SetLevel(asserted);
        }
    }

    private void WakeBlockedWriters()
    {
        lock (_lock)
        {
            Monitor.PulseAll(_lock);
        }
    }
}
