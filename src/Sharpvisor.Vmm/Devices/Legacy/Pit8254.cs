using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The Intel 8254 programmable interval timer, registered at port 0x40 with length 4: offsets 0 to 2 are counters
/// 0 to 2, offset 3 the write-only control word register (counter latch and read-back commands included).
/// Counter 0's OUT is the PC's IRQ0, counter 1 (once DRAM refresh) has no output, counter 2 feeds the speaker and
/// is gated and observed through <see cref="SystemControlPortB"/>. Counters 0 and 1 have their gate tied high.
/// </summary>
/// <remarks>
/// Counter values and OUT levels are derived from <see cref="TimeProvider.GetTimestamp"/>, not ticked.
/// IRQ0 is driven by one host timer aimed at the next rising edge of counter 0's OUT, computed from the counter,
/// so periods do not drift with timer latency. Each rising edge becomes a pulse (level up, then down), because the
/// interrupt controller treats ISA IRQ0 as edge-triggered. When the host falls behind, each timer callback
/// delivers at most one pulse for all the edges it missed: a burst of stale ticks helps no guest (Linux keeps time
/// with the TSC or kvm-clock, not by counting ticks) and would only add load when the host is already late.
/// Host timers have millisecond resolution, so due times are rounded up to whole milliseconds: a pulse is up to
/// 1 ms late, and a guest asking for more than 1000 interrupts a second gets about 1000.
/// One lock guards all state, and pulses are delivered while holding it: interrupt lines go to the interrupt
/// controller and never call back into the PIT, so the only lock order is PIT then controller, and a pulse from a
/// programming the guest has already replaced can never arrive after the replacing write returns.
/// At power-on no counter holds a count and nothing is raised until the guest programs counter 0.
/// </remarks>
public sealed partial class Pit8254 : IBusDevice, IDisposable
{
    public const ulong RangeLength = 4;
    public const ulong ControlWordOffset = 3;
    public const long InputClockHz = PitCounter.InputClockHz;

    private const int CounterCount = 3;
    private const int TimerCounter = 0;
    private const int SpeakerCounter = 2;

    private const int SelectShift = 6;
    private const int ReadBackSelect = 3;
    private const byte AccessMask = 0x30;
    private const byte ReadBackNoCount = 0x20;
    private const byte ReadBackNoStatus = 0x10;

    private readonly Lock _lock = new();
    private readonly IInterruptLine _irq0;
    private readonly TimeProvider _clock;
    private readonly PitCounter[] _counters;
    private readonly ITimer _irq0Timer;
    private bool _disposed;

    /// <param name="irq0">The ISA IRQ0 input of the interrupt controller.</param>
    /// <param name="clock">Gives the time counters count and the timers that raise IRQ0; tests pass a fake one.</param>
    public Pit8254(IInterruptLine irq0, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(irq0);
        ArgumentNullException.ThrowIfNull(clock);
        _irq0 = irq0;
        _clock = clock;
        var frequency = clock.TimestampFrequency;
        _counters = [new(gate: true, frequency), new(gate: true, frequency), new(gate: false, frequency)];
        _irq0Timer = clock.CreateTimer(_ => OnIrq0TimerDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Counter 2's gate input (bit 0 of port 0x61); low at power-on.</summary>
    public bool Counter2Gate
    {
        get
        {
            lock (_lock)
            {
                return _counters[SpeakerCounter].Gate;
            }
        }

        set
        {
            lock (_lock)
            {
                _counters[SpeakerCounter].SetGate(value, _clock.GetTimestamp());
            }
        }
    }

    /// <summary>Counter 2's OUT pin (bit 5 of port 0x61).</summary>
    public bool Counter2Output
    {
        get
        {
            lock (_lock)
            {
                return _counters[SpeakerCounter].Output(_clock.GetTimestamp());
            }
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            var now = _clock.GetTimestamp();
            for (var i = 0; i < data.Length; i++)
            {
                var port = offset + (ulong)i;

                // The control word register cannot be read: the chip leaves the bus floating.
                data[i] = port < CounterCount ? _counters[port].ReadByte(now) : (byte)0xff;
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            var now = _clock.GetTimestamp();
            for (var i = 0; i < data.Length; i++)
            {
                var port = offset + (ulong)i;
                if (port < CounterCount)
                {
                    WriteCount((int)port, data[i], now);
                }
                else if (port == ControlWordOffset)
                {
                    WriteControlWord(data[i], now);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            // A callback already running sees this and raises nothing.
            _disposed = true;
        }

        _irq0Timer.Dispose();
    }

    private void WriteCount(int counter, byte value, long now)
    {
        if (counter == TimerCounter)
        {
            // An edge that happened before this write but whose timer has not run yet still gets its interrupt.
            DeliverPendingIrq0(now);
            _counters[counter].WriteByte(value, now);
            ScheduleIrq0(now);
        }
        else
        {
            _counters[counter].WriteByte(value, now);
        }
    }

    private void WriteControlWord(byte value, long now)
    {
        var select = value >> SelectShift;
        if (select == ReadBackSelect)
        {
            ReadBack(value, now);
            return;
        }

        var counter = _counters[select];
        if ((value & AccessMask) == 0)
        {
            counter.LatchCount(now);
            return;
        }

        if (select == TimerCounter)
        {
            DeliverPendingIrq0(now);
            counter.Program(value, now);
            ScheduleIrq0(now);
        }
        else
        {
            counter.Program(value, now);
        }
    }

    private void ReadBack(byte command, long now)
    {
        // Bits 1 to 3 select counters 0 to 2; bits 4 and 5 are active low.
        for (var i = 0; i < CounterCount; i++)
        {
            if ((command & (2 << i)) == 0)
            {
                continue;
            }

            if ((command & ReadBackNoStatus) == 0)
            {
                _counters[i].LatchStatus(now);
            }

            if ((command & ReadBackNoCount) == 0)
            {
                _counters[i].LatchCount(now);
            }
        }
    }

    private void OnIrq0TimerDue()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var now = _clock.GetTimestamp();
            DeliverPendingIrq0(now);
            ScheduleIrq0(now);
        }
    }

    private void DeliverPendingIrq0(long now)
    {
        if (!_disposed && _counters[TimerCounter].TakeRisingEdge(now))
        {
            _irq0.SetLevel(true);
            _irq0.SetLevel(false);
        }
    }

    private void ScheduleIrq0(long now)
    {
        if (_disposed)
        {
            return;
        }

        var ticks = _counters[TimerCounter].TicksUntilNextRisingEdge(now);
        _irq0Timer.Change(ticks is { } t ? HostTimerDelay(t) : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private static TimeSpan HostTimerDelay(long pitTicks)
    {
        // Rounded up, never down: a timer that fires before the edge finds nothing to deliver and has to be re-armed.
        var timeSpanTicks = ((pitTicks * TimeSpan.TicksPerSecond) + InputClockHz - 1) / InputClockHz;
        var milliseconds = Math.Max(1, (timeSpanTicks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
        return TimeSpan.FromTicks(milliseconds * TimeSpan.TicksPerMillisecond);
    }
}
