using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>
/// The PIT's saved state, restored on a host whose clock reads years later and counts in nanoseconds (as Stopwatch does
/// on Linux) where the saving one counted in 100 ns ticks: counters resume mid-count and IRQ0 keeps its beat.
/// </summary>
public sealed class PitStateTests : IDisposable
{
    private const ushort ControlWordPort = 0x43;
    private const ushort PortB = 0x61;
    private const ushort CountFor100Hz = 11932;
    private const int CounterStateLength = 54;

    private readonly Machine _source = new(new ManualClock(new DateTimeOffset(2024, 3, 9, 13, 45, 27, TimeSpan.Zero)));
    private readonly Machine _target = new(new ManualClock(new DateTimeOffset(2031, 7, 1, 0, 0, 0, TimeSpan.Zero)), nanosecondTimestamps: true);

    public PitStateTests()
    {
        // Counter 0 at 100 Hz for a while; counter 1 one-shot with its latched count half read; counter 2 a square wave.
        _source.Program(0, 0x34, CountFor100Hz);
        _source.Clock.Advance(TimeSpan.FromMilliseconds(1234.5));
        _source.Program(1, 0x70, 50000);
        _source.Bus.Out8(PortB, 0x01);
        _source.Program(2, 0xb6, 1000);
        _source.Clock.Advance(TimeSpan.FromMilliseconds(1.3));
        _source.Bus.Out8(ControlWordPort, 0x40);
        _ = _source.Bus.In8(0x41);
    }

    public void Dispose()
    {
        _source.Pit.Dispose();
        _target.Pit.Dispose();
    }

    [Fact]
    public void CountersResumeWhereTheyWereAndIrq0KeepsItsPeriod()
    {
        _target.Pit.RestoreState(Save(_source.Pit));
        var pulsedBeforeSave = _source.Pulses;

        var untilEdge = _target.ReadLatched(0);
        Assert.Equal(_source.ReadLatched(0), untilEdge);
        Assert.InRange(untilEdge, 2, CountFor100Hz - 1);
        Assert.Equal(_source.Bus.In8(0x41), _target.Bus.In8(0x41)); // the latched count's high byte
        Assert.Equal(_source.Status(2), _target.Status(2));

        // The next rising edge comes when the restored count runs out, not before, and is delivered within the host
        // timer's millisecond; from then on both PITs pulse in step.
        Advance(PitTicks(untilEdge - 1));
        Assert.Equal((0, 0), (_source.Pulses - pulsedBeforeSave, _target.Pulses));
        Advance(TimeSpan.FromMilliseconds(1.1));
        Assert.Equal((1, 1), (_source.Pulses - pulsedBeforeSave, _target.Pulses));
        Advance(TimeSpan.FromMilliseconds(5));
        for (var period = 0; period < 100; period++)
        {
            Advance(TimeSpan.FromMilliseconds(10));
            Assert.Equal(_source.Pulses - pulsedBeforeSave, _target.Pulses);
            Assert.Equal(_source.ReadLatched(0), _target.ReadLatched(0));
            Assert.Equal(_source.Bus.In8(PortB) & 0x20, _target.Bus.In8(PortB) & 0x20);
        }

        Assert.Equal(101, _target.Pulses);
    }

    [Fact]
    public void ATimerThatHasFinishedStaysQuiet()
    {
        _source.Program(0, 0x30, 100); // mode 0: one interrupt at the end of the count
        _source.Clock.Advance(TimeSpan.FromMilliseconds(5));
        var pulses = _source.Pulses;

        _target.Pit.RestoreState(Save(_source.Pit));
        Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(0, _target.Clock.ArmedTimerCount);
        Assert.Equal((pulses, 0), (_source.Pulses, _target.Pulses));
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(_target.Pit, Save(_source.Pit));

    [Theory]
    [InlineData(0, 1, 8UL, "counter 0's mode 8 is not 0 to 7")]
    [InlineData(1, 1, 0UL, "counter 0's access 0 is not 1 to 3")]
    [InlineData((2 * CounterStateLength) + 1, 1, 4UL, "counter 2's access 4 is not 1 to 3")]
    [InlineData(2, 1, 2UL, "2 is not a boolean")]
    [InlineData(3, 4, 0x10000UL, "counter 0's count register 0x10000 is wider than 16 bits")]
    [InlineData(13, 4, 0x10000UL, "counter 0's latched count 0x10000 is wider than 16 bits")]
    [InlineData(19, 1, 0UL, "counter 0's gate is low, but it is tied high")]
    [InlineData(21, 4, 0x10001UL, "counter 0's count 65537 is not 1 to 0x10000")]
    [InlineData(21, 4, 0UL, "counter 0's count 0 is not 1 to 0x10000")] // loaded: counting by it would divide by zero
    [InlineData(25, 4, 0x10000UL, "counter 0's value 0x10000 is wider than 16 bits")]
    [InlineData(30, 8, ulong.MaxValue, "counter 0's counting time of 18446744073709551615 ns is out of range")]
    [InlineData(38, 8, 1UL << 62, "counter 0's earlier counting time of 4611686018427387904 ns is out of range")]
    [InlineData(46, 8, 1UL << 63, "counter 0's rising edge count 9223372036854775808 is out of range")]
    public void FieldsOutOfRangeAreRefused(int offset, int size, ulong value, string expected)
    {
        var section = Save(_source.Pit);
        section = size switch
        {
            1 => WithU8(section, offset, (byte)value),
            4 => WithU32(section, offset, (uint)value),
            _ => WithU64(section, offset, value),
        };

        AssertRefused(_target.Pit, section, expected);
    }

    private static TimeSpan PitTicks(long ticks) =>
        TimeSpan.FromTicks(((ticks * TimeSpan.TicksPerSecond) + Pit8254.InputClockHz - 1) / Pit8254.InputClockHz);

    private void Advance(TimeSpan by)
    {
        _source.Clock.Advance(by);
        _target.Clock.Advance(by);
    }

    /// <summary>A manual clock seen through nanosecond timestamps counted from when it was wrapped.</summary>
    private sealed class NanosecondClock(ManualClock inner) : TimeProvider
    {
        private readonly DateTimeOffset _origin = inner.Now;

        public override long TimestampFrequency => 1_000_000_000;

        public override long GetTimestamp() => (inner.Now - _origin).Ticks * 100;

        public override DateTimeOffset GetUtcNow() => inner.Now;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            inner.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>A PIT and port B on a port bus, as a guest reaches them.</summary>
    private sealed class Machine
    {
        private readonly RecordingInterruptLine _irq0 = new();

        public Machine(ManualClock clock, bool nanosecondTimestamps = false)
        {
            Clock = clock;
            Pit = new Pit8254(_irq0, nanosecondTimestamps ? new NanosecondClock(clock) : clock);
            Bus.Register(0x40, Pit8254.RangeLength, Pit);
            Bus.Register(PortB, SystemControlPortB.RangeLength, new SystemControlPortB(Pit));
        }

        public ManualClock Clock { get; }

        public IoBus Bus { get; } = new("pio");

        public Pit8254 Pit { get; }

        public int Pulses => _irq0.Changes.Count(level => level);

        public void Program(int counter, byte controlWord, ushort count)
        {
            Bus.Out8(ControlWordPort, controlWord);
            Bus.Out8((ushort)(0x40 + counter), (byte)count);
            Bus.Out8((ushort)(0x40 + counter), (byte)(count >> 8));
        }

        public int ReadLatched(int counter)
        {
            Bus.Out8(ControlWordPort, (byte)(counter << 6));
            var port = (ushort)(0x40 + counter);
            var low = Bus.In8(port);
            return low | (Bus.In8(port) << 8);
        }

        public byte Status(int counter)
        {
            Bus.Out8(ControlWordPort, (byte)(0xe0 | (2 << counter)));
            return Bus.In8((ushort)(0x40 + counter));
        }
    }
}
