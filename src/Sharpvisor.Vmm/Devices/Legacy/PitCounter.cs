namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// One of the 8254's three counters. Nothing ticks: the counting element's value and the OUT pin are computed
/// from how long the counter has been allowed to count, so an idle guest costs no host work.
/// Times are <see cref="TimeProvider.GetTimestamp"/> values. Not thread-safe: <see cref="Pit8254"/> calls it under its lock.
/// </summary>
/// <remarks>
/// Simplifications, none of which Linux or a PC BIOS can observe in practice:
/// the count is loaded the moment it is written (the chip waits for the next CLK edge, under 1 µs);
/// the BCD flag is stored and reported in the status byte but counting is always binary;
/// a new count written in modes 2 and 3 takes effect at once instead of at the end of the current period;
/// writing the first byte of a two-byte count in mode 0 does not pause counting;
/// the counter value in mode 3 with an odd count is approximate (OUT timing is exact).
/// </remarks>
internal sealed partial class PitCounter
{
    public const long InputClockHz = 1_193_182;

    // A count of 0 means the largest count, 2^16 (binary).
    private const int FullCount = 0x1_0000;

    private const byte StatusOutput = 0x80;
    private const byte StatusNullCount = 0x40;

    private readonly long _timestampFrequency;

    // As programmed: 6 and 7 are aliases of modes 2 and 3 and are reported back as written.
    private byte _modeBits;
    private PitAccess _access = PitAccess.LowThenHighByte;
    private bool _bcd;

    private ushort _countRegister;
    private bool _countWrittenSinceControlWord;
    private bool _nullCount = true;
    private bool _writeHighByteNext;
    private byte _pendingLowByte;

    private bool _readHighByteNext;
    private ushort? _latchedCount;
    private byte? _latchedStatus;

    private bool _gate;

    // The counting element holds a count: false from a control word until the count arrives (or, in modes 1
    // and 5, until the gate triggers).
    private bool _loaded;
    private int _activeCount;
    private ushort _valueWhileUnloaded;
    private bool _counting;
    private long _countingSince;
    private long _countedBeforeSince;
    private long _risingEdgesReported;

    public PitCounter(bool gate, long timestampFrequency)
    {
        _gate = gate;
        _timestampFrequency = timestampFrequency;
    }

    public bool Gate => _gate;

    private PitMode Mode => (PitMode)(_modeBits > 5 ? _modeBits - 4 : _modeBits);

    private bool IsGateTriggered => Mode is PitMode.HardwareRetriggerableOneShot or PitMode.HardwareTriggeredStrobe;

    /// <summary>A control word with a non-zero access field: resets the counter and waits for a new count.</summary>
    public void Program(byte controlWord, long now)
    {
        // Until the new count arrives the value reads as whatever it was; the datasheet calls it undefined.
        _valueWhileUnloaded = Value(now);
        _access = (PitAccess)((controlWord >> 4) & 3);
        _modeBits = (byte)((controlWord >> 1) & 7);
        _bcd = (controlWord & 1) != 0;
        _writeHighByteNext = false;
        _readHighByteNext = false;
        _latchedCount = null;
        _latchedStatus = null;
        _nullCount = true;
        _countWrittenSinceControlWord = false;
        _loaded = false;
        _counting = false;
    }

    /// <summary>The counter latch command; a second one before the latched count is read is ignored, as on the chip.</summary>
    public void LatchCount(long now) => _latchedCount ??= Value(now);

    public void LatchStatus(long now) => _latchedStatus ??= Status(now);

    public void WriteByte(byte value, long now)
    {
        switch (_access)
        {
            case PitAccess.LowByteOnly:
                _countRegister = value;
                break;
            case PitAccess.HighByteOnly:
                _countRegister = (ushort)(value << 8);
                break;
            default:
                if (!_writeHighByteNext)
                {
                    _pendingLowByte = value;
                    _writeHighByteNext = true;
                    return;
                }

                _countRegister = (ushort)(_pendingLowByte | (value << 8));
                _writeHighByteNext = false;
                break;
        }

        _countWrittenSinceControlWord = true;
        _nullCount = true;
        if (!IsGateTriggered)
        {
            Load(now);
        }
    }

    public byte ReadByte(long now)
    {
        // A latched status is read first, whichever was latched first.
        if (_latchedStatus is { } status)
        {
            _latchedStatus = null;
            return status;
        }

        var value = _latchedCount ?? Value(now);
        bool highByte;
        switch (_access)
        {
            case PitAccess.LowByteOnly:
                highByte = false;
                _latchedCount = null;
                break;
            case PitAccess.HighByteOnly:
                highByte = true;
                _latchedCount = null;
                break;
            default:
                highByte = _readHighByteNext;
                _readHighByteNext = !_readHighByteNext;
                if (highByte)
                {
                    _latchedCount = null;
                }

                break;
        }

        return highByte ? (byte)(value >> 8) : (byte)value;
    }

    public void SetGate(bool high, long now)
    {
        if (high == _gate)
        {
            return;
        }

        _gate = high;
        switch (Mode)
        {
            case PitMode.HardwareRetriggerableOneShot or PitMode.HardwareTriggeredStrobe:
                // Only the rising edge matters: it (re)loads the count register and starts counting.
                if (high && _countWrittenSinceControlWord)
                {
                    Load(now);
                }

                break;
            case PitMode.RateGenerator or PitMode.SquareWave:
                // A low gate stops counting (and forces OUT high); the rising edge starts a fresh period.
                if (!_loaded)
                {
                    break;
                }

                if (high)
                {
                    Load(now);
                }
                else
                {
                    Pause(now);
                }

                break;
            default:
                // Modes 0 and 4: the gate only suspends counting.
                if (!_loaded)
                {
                    break;
                }

                if (high)
                {
                    _countingSince = now;
                    _counting = true;
                }
                else
                {
                    Pause(now);
                }

                break;
        }
    }

    public bool Output(long now)
    {
        if (!_loaded)
        {
            // A control word sets OUT low in mode 0 and high in every other mode.
            return Mode != PitMode.InterruptOnTerminalCount;
        }

        var elapsed = ElapsedTicks(now);
        var count = _activeCount;
        return Mode switch
        {
            PitMode.InterruptOnTerminalCount or PitMode.HardwareRetriggerableOneShot => elapsed >= count,
            PitMode.RateGenerator => !_gate || elapsed % count != count - 1,
            PitMode.SquareWave => !_gate || elapsed % count < (count + 1) / 2,
            _ => elapsed != count,
        };
    }

    /// <summary>True once for each time OUT has risen since the last call; rises the caller was too late for are merged into one.</summary>
    public bool TakeRisingEdge(long now)
    {
        if (!_loaded)
        {
            return false;
        }

        var edges = RisingEdges(ElapsedTicks(now));
        if (edges <= _risingEdgesReported)
        {
            return false;
        }

        _risingEdgesReported = edges;
        return true;
    }

    /// <summary>Input clock ticks until OUT next rises, or null if it will not rise without the guest doing something.</summary>
    public long? TicksUntilNextRisingEdge(long now)
    {
        if (!_loaded || !_counting)
        {
            return null;
        }

        var elapsed = ElapsedTicks(now);
        var count = _activeCount;
        long? next = Mode switch
        {
            PitMode.InterruptOnTerminalCount or PitMode.HardwareRetriggerableOneShot => elapsed < count ? count : null,
            PitMode.RateGenerator or PitMode.SquareWave => count >= 2 ? ((elapsed / count) + 1) * count : null,
            _ => elapsed <= count ? count + 1 : null,
        };
        return next - elapsed;
    }

    private long RisingEdges(long elapsed)
    {
        var count = _activeCount;
        return Mode switch
        {
            PitMode.InterruptOnTerminalCount or PitMode.HardwareRetriggerableOneShot => elapsed >= count ? 1 : 0,
            // With a count of 1 OUT never changes (mode 2 stays low, mode 3 stays high).
            PitMode.RateGenerator or PitMode.SquareWave => count >= 2 ? elapsed / count : 0,
            _ => elapsed > count ? 1 : 0,
        };
    }

    private ushort Value(long now)
    {
        if (!_loaded)
        {
            return _valueWhileUnloaded;
        }

        var elapsed = ElapsedTicks(now);
        var count = _activeCount;
        var value = Mode switch
        {
            // Never reads 0: the counter reloads when it reaches 1.
            PitMode.RateGenerator => count - (elapsed % count),
            PitMode.SquareWave => SquareWaveValue(count, elapsed),
            // Modes 0, 1, 4 and 5 wrap around past zero and keep counting.
            _ => count - elapsed,
        };

        // 65536 reads as 0; negative values wrap to 0xffff downwards.
        return (ushort)(value & 0xffff);
    }

    private static long SquareWaveValue(int count, long elapsed)
    {
        // Mode 3 counts down by two, once through each half of the period.
        var phase = elapsed % count;
        var highHalf = (count + 1) / 2;
        var intoHalf = phase < highHalf ? phase : phase - highHalf;
        return Math.Max(2, (count & ~1) - (2 * intoHalf));
    }

    private byte Status(long now) => (byte)(
        (Output(now) ? StatusOutput : 0)
        | (_nullCount ? StatusNullCount : 0)
        | ((int)_access << 4)
        | (_modeBits << 1)
        | (_bcd ? 1 : 0));

    private void Load(long now)
    {
        _activeCount = _countRegister == 0 ? FullCount : _countRegister;
        _nullCount = false;
        _loaded = true;
        _countedBeforeSince = 0;
        _countingSince = now;
        _counting = IsGateTriggered || _gate;
        _risingEdgesReported = 0;
    }

    private void Pause(long now)
    {
        if (_counting)
        {
            _countedBeforeSince += Math.Max(0, now - _countingSince);
            _counting = false;
        }
    }

    private long ElapsedTicks(long now)
    {
        var timestamps = _countedBeforeSince + (_counting ? Math.Max(0, now - _countingSince) : 0);
        return (long)((Int128)timestamps * InputClockHz / _timestampFrequency);
    }
}
