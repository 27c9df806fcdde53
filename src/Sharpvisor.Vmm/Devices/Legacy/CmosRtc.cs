using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The MC146818 real-time clock and its 128 bytes of CMOS, registered at port 0x70 with length 2: offset 0
/// selects a register (bit 7, the NMI mask on PCs, is ignored), offset 1 reads or writes it. The clock is the
/// host's UTC time plus an offset that changes only when the guest sets the time; no RTC interrupts are raised.
/// </summary>
public sealed partial class CmosRtc : IBusDevice
{
    public const ulong IndexPortOffset = 0;
    public const ulong DataPortOffset = 1;
    public const ulong RangeLength = 2;

    private const int RegisterCount = 128;
    private const byte IndexMask = 0x7f;

    private const byte Seconds = 0x00;
    private const byte Minutes = 0x02;
    private const byte Hours = 0x04;
    private const byte DayOfWeek = 0x06;
    private const byte DayOfMonth = 0x07;
    private const byte Month = 0x08;
    private const byte Year = 0x09;
    private const byte StatusA = 0x0a;
    private const byte StatusB = 0x0b;
    private const byte StatusC = 0x0c;
    private const byte StatusD = 0x0d;
    private const byte Century = 0x32;

    private const byte StatusAUpdateInProgress = 0x80;
    private const byte StatusBSet = 0x80;
    private const byte StatusBUpdateEndedInterrupt = 0x10;
    private const byte StatusBBinary = 0x04;
    private const byte StatusB24Hour = 0x02;
    private const byte StatusCInterruptRequested = 0x80;
    private const byte StatusCUpdateEnded = 0x10;
    private const byte StatusDValidRam = 0x80;
    private const byte HourPm = 0x80;

    // UIP rises 244 µs before each update; the update itself is instantaneous here.
    private const long UpdateInProgressTicks = 2_440;

    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly byte[] _storage = new byte[RegisterCount];
    private byte _index;
    private byte _statusA = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate: the power-on values BIOSes program
    private byte _statusB = StatusB24Hour;
    private long _guestClockOffsetTicks;
    private RtcTime? _timeFrozenBySet;
    private long _secondSeenByStatusC;

    /// <param name="clock">The host clock, read in UTC; tests pass a fake one.</param>
    public CmosRtc(TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        _clock = clock;
        _secondSeenByStatusC = GuestTicks() / TimeSpan.TicksPerSecond;
    }

    private bool Binary => (_statusB & StatusBBinary) != 0;

    private bool TwentyFourHour => (_statusB & StatusB24Hour) != 0;

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                // The index register is write-only.
                data[i] = offset + (ulong)i == DataPortOffset ? ReadRegister(_index) : (byte)0xff;
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                switch (offset + (ulong)i)
                {
                    case IndexPortOffset:
                        _index = (byte)(data[i] & IndexMask);
                        break;
                    case DataPortOffset:
                        WriteRegister(_index, data[i]);
                        break;
                    default:
                        break;
                }
            }
        }
    }

    private byte ReadRegister(byte register)
    {
        switch (register)
        {
            case Seconds or Minutes or Hours or DayOfWeek or DayOfMonth or Month or Year or Century:
                return EncodeTimeField(register, _timeFrozenBySet ?? RtcTime.From(GuestNow()));
            case StatusA:
                return (byte)(_statusA | (UpdateInProgress() ? StatusAUpdateInProgress : 0));
            case StatusB:
                return _statusB;
            case StatusC:
                return ReadAndClearInterruptFlags();
            case StatusD:
                // The battery is fine.
                return StatusDValidRam;
            default:
                return _storage[register];
        }
    }

    private void WriteRegister(byte register, byte value)
    {
        switch (register)
        {
            case Seconds or Minutes or Hours or DayOfWeek or DayOfMonth or Month or Year or Century:
                WriteTimeField(register, value);
                break;
            case StatusA:
                _statusA = (byte)(value & ~StatusAUpdateInProgress);
                break;
            case StatusB:
                WriteStatusB(value);
                break;
            case StatusC or StatusD:
                // Read-only.
                break;
            default:
                _storage[register] = value;
                break;
        }
    }

    private void WriteStatusB(byte value)
    {
        var setting = (value & StatusBSet) != 0;
        if (setting && _timeFrozenBySet is null)
        {
            // SET stops the clock so the guest can write the fields one by one without a tick in between.
            _timeFrozenBySet = RtcTime.From(GuestNow());
        }

        // Setting SET clears UIE on the real chip.
        _statusB = setting ? (byte)(value & ~StatusBUpdateEndedInterrupt) : value;

        if (!setting && _timeFrozenBySet is { } written)
        {
            _timeFrozenBySet = null;
            ResumeFrom(written);
        }
    }

    private void WriteTimeField(byte register, byte value)
    {
        var time = _timeFrozenBySet ?? RtcTime.From(GuestNow());
        time = register switch
        {
            Seconds => time with { Second = Decode(value) },
            Minutes => time with { Minute = Decode(value) },
            Hours => time with { Hour = DecodeHour(value) },
            DayOfWeek => time with { DayOfWeek = Decode(value) },
            DayOfMonth => time with { Day = Decode(value) },
            Month => time with { Month = Decode(value) },
            Year => time with { YearOfCentury = Decode(value) },
            _ => time with { Century = Decode(value) },
        };

        if (_timeFrozenBySet is not null)
        {
            _timeFrozenBySet = time;
        }
        else
        {
            // Without SET the chip takes the write and keeps counting from it.
            ResumeFrom(time);
        }
    }

    private void ResumeFrom(RtcTime written)
    {
        // A date that does not exist (month 13, February 30, bad BCD) is refused: the clock keeps its old time.
        if (written.ToDateTime() is { } time)
        {
            _guestClockOffsetTicks = time.Ticks - _clock.GetUtcNow().UtcTicks;
        }
    }

    private bool UpdateInProgress() =>
        _timeFrozenBySet is null && GuestTicks() % TimeSpan.TicksPerSecond >= TimeSpan.TicksPerSecond - UpdateInProgressTicks;

    private byte ReadAndClearInterruptFlags()
    {
        // Only the update-ended flag is modelled: set when a second has ticked since the last read.
        var second = GuestTicks() / TimeSpan.TicksPerSecond;
        var flags = 0;
        if (second != _secondSeenByStatusC && _timeFrozenBySet is null)
        {
            flags |= StatusCUpdateEnded;
            if ((_statusB & StatusBUpdateEndedInterrupt) != 0)
            {
                flags |= StatusCInterruptRequested;
            }
        }

        _secondSeenByStatusC = second;
        return (byte)flags;
    }

    private long GuestTicks() =>
        Math.Clamp(_clock.GetUtcNow().UtcTicks + _guestClockOffsetTicks, DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks);

    private DateTime GuestNow() => new(GuestTicks(), DateTimeKind.Utc);

    private byte EncodeTimeField(byte register, RtcTime time) => register switch
    {
        Seconds => Encode(time.Second),
        Minutes => Encode(time.Minute),
        Hours => EncodeHour(time.Hour),
        DayOfWeek => Encode(time.DayOfWeek),
        DayOfMonth => Encode(time.Day),
        Month => Encode(time.Month),
        Year => Encode(time.YearOfCentury),
        _ => Encode(time.Century),
    };

    private byte Encode(int value) => Binary ? (byte)value : (byte)(((value / 10 % 10) << 4) | (value % 10));

    private int Decode(int raw) => Binary ? raw : ((raw >> 4) * 10) + (raw & 0x0f);

    private byte EncodeHour(int hour)
    {
        if (TwentyFourHour)
        {
            return Encode(hour);
        }

        var twelveHour = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(Encode(twelveHour) | (hour >= 12 ? HourPm : 0));
    }

    private int DecodeHour(byte raw)
    {
        if (TwentyFourHour)
        {
            return Decode(raw);
        }

        return (Decode(raw & ~HourPm) % 12) + ((raw & HourPm) != 0 ? 12 : 0);
    }
}
