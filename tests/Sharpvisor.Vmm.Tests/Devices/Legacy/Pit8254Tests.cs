using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public sealed class Pit8254Tests : IDisposable
{
    private const ushort Counter0Port = 0x40;
    private const ushort Counter1Port = 0x41;
    private const ushort Counter2Port = 0x42;
    private const ushort ControlWordPort = 0x43;
    private const ushort PortB = 0x61;

    private const byte PortBGate = 0x01;
    private const byte PortBSpeaker = 0x02;
    private const byte PortBRefresh = 0x10;
    private const byte PortBOut2 = 0x20;

    // Control words: counter in bits 7:6, access in 5:4 (3 = low then high byte), mode in 3:1, BCD in bit 0.
    private const byte Counter0Mode0 = 0x30;
    private const byte Counter0Mode2 = 0x34;
    private const byte Counter0Mode3 = 0x36;
    private const byte Counter2Mode0 = 0xb0;

    // 1193182 / 11932 = 99.9985 Hz, what Linux programs for HZ=100.
    private const ushort CountFor100Hz = 11932;

    private readonly ManualClock _clock = new(new DateTimeOffset(2024, 3, 9, 13, 45, 27, TimeSpan.Zero));
    private readonly RecordingInterruptLine _irq0 = new();
    private readonly IoBus _bus = new("pio");
    private readonly Pit8254 _pit;

    public Pit8254Tests()
    {
        _pit = new Pit8254(_irq0, _clock);
        _bus.Register(0x40, Pit8254.RangeLength, _pit);
        _bus.Register(0x61, SystemControlPortB.RangeLength, new SystemControlPortB(_pit));
    }

    public void Dispose() => _pit.Dispose();

    [Fact]
    public void RateGeneratorAt100HzPulsesIrq0AHundredTimesASecond()
    {
        Program(Counter0Port, Counter0Mode2, CountFor100Hz);

        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.InRange(Pulses(), 99, 101);
        AssertEveryChangeIsAPulse();
    }

    [Fact]
    public void SquareWaveAt100HzPulsesIrq0AHundredTimesASecondEvenInSmallSteps()
    {
        Program(Counter0Port, Counter0Mode3, CountFor100Hz);

        for (var i = 0; i < 1000; i++)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.InRange(Pulses(), 99, 101);
        AssertEveryChangeIsAPulse();
    }

    [Fact]
    public void InterruptOnTerminalCountPulsesOnceWithinAMillisecondAndLeavesOutHigh()
    {
        Program(Counter0Port, Counter0Mode0, CountFor100Hz);

        _clock.Advance(PitTicks(CountFor100Hz - 1));
        Assert.Equal(0, Pulses());
        Assert.Equal(0, Status(0) & 0x80);

        _clock.Advance(TimeSpan.FromMilliseconds(1.1));
        Assert.Equal(1, Pulses());

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, Pulses());
        Assert.Equal(0x80, Status(0) & 0x80);
        Assert.Equal(0, _clock.ArmedTimerCount);
        AssertEveryChangeIsAPulse();
    }

    [Fact]
    public void TheCountDecreasesAtTheInputClockRate()
    {
        Program(Counter0Port, Counter0Mode2, 60000);
        Assert.Equal(60000, ReadLatched(Counter0Port, 0));

        _clock.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(60000 - 11931, ReadLatched(Counter0Port, 0)); // 0.01 s * 1193182 Hz = 11931.82 ticks

        _clock.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(60000 - 23863, ReadLatched(Counter0Port, 0));
    }

    [Fact]
    public void TwoByteAccessAlternatesLowAndHighByte()
    {
        _bus.Out8(ControlWordPort, 0x74); // counter 1, low then high, mode 2
        _bus.Out8(Counter1Port, 0x34);
        Assert.Equal(0x40, Status(1) & 0x40); // half a count written: still null

        _bus.Out8(Counter1Port, 0x12);
        Assert.Equal(0, Status(1) & 0x40);

        Assert.Equal([0x34, 0x12, 0x34, 0x12], ReadBytes(Counter1Port, 4));
    }

    [Theory]
    [InlineData(0x50, 0x34, 0x34)] // low byte only: count 0x0034
    [InlineData(0x60, 0x12, 0x12)] // high byte only: count 0x1200
    public void SingleByteAccessReadsAndWritesOneByte(byte controlWord, byte written, byte read)
    {
        _bus.Out8(ControlWordPort, controlWord);
        _bus.Out8(Counter1Port, written);

        Assert.Equal([read, read, read], ReadBytes(Counter1Port, 3));
        Assert.Equal(0, Status(1) & 0x40);
    }

    [Fact]
    public void ALatchedCountHoldsUntilBothBytesAreRead()
    {
        Program(Counter0Port, Counter0Mode2, 50000);
        _clock.Advance(TimeSpan.FromMilliseconds(1));

        _bus.Out8(ControlWordPort, 0x00);
        _clock.Advance(TimeSpan.FromMilliseconds(5));
        var low = _bus.In8(Counter0Port);
        _clock.Advance(TimeSpan.FromMilliseconds(5));
        _bus.Out8(ControlWordPort, 0x00); // ignored: the first latch is still being read
        var high = _bus.In8(Counter0Port);

        Assert.Equal(50000 - 1193, low | (high << 8));
        Assert.Equal(50000 - 13125, ReadLatched(Counter0Port, 0)); // 11 ms later
    }

    [Fact]
    public void ReadBackLatchesStatusAndCount()
    {
        _bus.Out8(ControlWordPort, Counter2Mode0);
        Assert.Equal(0x70, Status(2)); // OUT low, null count, low then high, mode 0, binary

        _bus.Out8(Counter2Port, 100);
        _bus.Out8(Counter2Port, 0);
        Assert.Equal(0x30, Status(2)); // the gate is low, but the count is loaded

        _bus.Out8(PortB, PortBGate);
        _clock.Advance(PitTicks(100));
        Assert.Equal(0xb0, Status(2));

        Program(Counter0Port, 0x35, 0x1000); // mode 2, BCD flag
        _clock.Advance(PitTicks(0x100));
        _bus.Out8(ControlWordPort, 0xc2); // latch count and status of counter 0
        _clock.Advance(PitTicks(0x100));
        Assert.Equal([0xb5, 0x00, 0x0f], ReadBytes(Counter0Port, 3));
        Assert.Equal(0x1000 - 0x200, ReadLatched(Counter0Port, 0));
    }

    [Fact]
    public void ACountOfZeroMeans65536()
    {
        _bus.Out8(PortB, PortBGate);
        var start = _clock.Now;
        Program(Counter2Port, Counter2Mode0, 0);
        Assert.Equal(0, ReadLatched(Counter2Port, 2));

        AdvanceTo(start + PitTicks(1));
        Assert.Equal(0xffff, ReadLatched(Counter2Port, 2));

        AdvanceTo(start + PitTicks(65535));
        Assert.Equal(0, _bus.In8(PortB) & PortBOut2);

        AdvanceTo(start + PitTicks(65536));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
    }

    [Fact]
    public void ARateGeneratorWithCountZeroTicksAt18Hz()
    {
        Program(Counter0Port, Counter0Mode2, 0);

        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(18, Pulses()); // 1193182 / 65536 = 18.2
    }

    [Fact]
    public void ReprogrammingReplacesTheOldTimer()
    {
        Program(Counter0Port, Counter0Mode2, CountFor100Hz);
        _clock.Advance(TimeSpan.FromSeconds(0.5));
        var at100Hz = Pulses();
        Assert.InRange(at100Hz, 49, 51);

        Program(Counter0Port, Counter0Mode2, 59659); // 20 Hz
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.InRange(Pulses() - at100Hz, 19, 21);

        var before = Pulses();
        Program(Counter0Port, Counter0Mode0, CountFor100Hz);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(before + 1, Pulses());

        // A control word alone stops the counter until a count arrives.
        Program(Counter0Port, Counter0Mode2, CountFor100Hz);
        _bus.Out8(ControlWordPort, Counter0Mode2);
        Assert.Equal(0, _clock.ArmedTimerCount);
        before = Pulses();
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(before, Pulses());
        AssertEveryChangeIsAPulse();
    }

    [Fact]
    public void ALowGateStopsCounter2InMode0()
    {
        _bus.Out8(PortB, 0);
        Program(Counter2Port, Counter2Mode0, 1193);
        _clock.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, _bus.In8(PortB) & PortBOut2);
        Assert.Equal(1193, ReadLatched(Counter2Port, 2));

        _bus.Out8(PortB, PortBGate);
        _clock.Advance(PitTicks(500));
        _bus.Out8(PortB, 0);
        _clock.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(693, ReadLatched(Counter2Port, 2));

        _bus.Out8(PortB, PortBGate);
        _clock.Advance(PitTicks(692));
        Assert.Equal(0, _bus.In8(PortB) & PortBOut2);
        _clock.Advance(PitTicks(1));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
        Assert.Equal(0, Pulses()); // counter 2 has no interrupt
    }

    [Fact]
    public void LinuxTscCalibrationSeesOutRiseAfterTheCount()
    {
        // What arch/x86/kernel/tsc.c does: gate high, speaker off, counter 2 mode 0, 10 ms count, poll bit 5.
        const ushort latch = 11931;
        _bus.Out8(PortB, (byte)((_bus.In8(PortB) & ~PortBSpeaker) | PortBGate));
        _bus.Out8(ControlWordPort, 0xb0);
        _bus.Out8(Counter2Port, latch & 0xff);
        _bus.Out8(Counter2Port, latch >> 8);

        var polls = 0;
        while ((_bus.In8(PortB) & PortBOut2) == 0)
        {
            Assert.True(++polls < 10_000, "OUT never rose");
            _clock.Advance(TimeSpan.FromMicroseconds(10));
        }

        Assert.InRange(polls, 999, 1001); // 11931 ticks = 9.9993 ms
    }

    [Fact]
    public void PortBKeepsItsControlBitsAndTogglesTheRefreshBit()
    {
        _bus.Out8(PortB, 0xff);

        var first = _bus.In8(PortB);
        var second = _bus.In8(PortB);

        Assert.Equal(0x0f, first & 0x0f);
        Assert.Equal(0, first & 0xc0);
        Assert.NotEqual(first & PortBRefresh, second & PortBRefresh);
        Assert.True(_pit.Counter2Gate);
    }

    [Fact]
    public void Mode1IsAOneShotRetriggeredByTheGate()
    {
        _bus.Out8(ControlWordPort, 0x92); // counter 2, low byte only, mode 1
        _bus.Out8(Counter2Port, 100);
        Assert.Equal(0xc0, Status(2) & 0xc0); // OUT high, count not yet loaded

        for (var trigger = 0; trigger < 2; trigger++)
        {
            _bus.Out8(PortB, 0);
            _bus.Out8(PortB, PortBGate);
            var start = _clock.Now;
            Assert.Equal(0, _bus.In8(PortB) & PortBOut2);
            Assert.Equal(0, Status(2) & 0x40);

            AdvanceTo(start + PitTicks(99));
            Assert.Equal(0, _bus.In8(PortB) & PortBOut2);
            AdvanceTo(start + PitTicks(100));
            Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
        }
    }

    [Theory]
    [InlineData(0x98, false)] // mode 4: counting starts with the count
    [InlineData(0x9a, true)]  // mode 5: counting starts with the gate's rising edge
    public void StrobeModesDropOutForOneTickAtTheEndOfTheCount(byte controlWord, bool gateTriggered)
    {
        _bus.Out8(PortB, gateTriggered ? (byte)0 : PortBGate);
        _bus.Out8(ControlWordPort, controlWord);
        _bus.Out8(Counter2Port, 100);
        if (gateTriggered)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(5));
            Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
            _bus.Out8(PortB, PortBGate);
        }

        var start = _clock.Now;
        AdvanceTo(start + PitTicks(99));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
        AdvanceTo(start + PitTicks(100));
        Assert.Equal(0, _bus.In8(PortB) & PortBOut2);
        AdvanceTo(start + PitTicks(101));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
    }

    [Fact]
    public void RateGeneratorCountsDownToOneWithOutLowAtOne()
    {
        _bus.Out8(PortB, PortBGate);
        _bus.Out8(ControlWordPort, 0x94); // counter 2, low byte only, mode 2
        _bus.Out8(Counter2Port, 5);
        var start = _clock.Now;

        var values = new List<int>();
        var outs = new List<bool>();
        for (var tick = 0; tick < 7; tick++)
        {
            AdvanceTo(start + PitTicks(tick));
            _bus.Out8(ControlWordPort, 0x80);
            values.Add(_bus.In8(Counter2Port));
            outs.Add((_bus.In8(PortB) & PortBOut2) != 0);
        }

        Assert.Equal([5, 4, 3, 2, 1, 5, 4], values);
        Assert.Equal([true, true, true, true, false, true, true], outs);
    }

    [Fact]
    public void SquareWaveIsHighForTheFirstHalfAndAGateLowForcesItHigh()
    {
        _bus.Out8(PortB, PortBGate);
        Program(Counter2Port, 0xb6, 1000);
        var start = _clock.Now;

        AdvanceTo(start + PitTicks(100));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
        AdvanceTo(start + PitTicks(600));
        Assert.Equal(0, _bus.In8(PortB) & PortBOut2);

        _bus.Out8(PortB, 0);
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);

        // The rising gate starts a fresh period.
        _bus.Out8(PortB, PortBGate);
        _clock.Advance(PitTicks(400));
        Assert.Equal(PortBOut2, _bus.In8(PortB) & PortBOut2);
    }

    [Fact]
    public void HostileAccessesNeverThrow()
    {
        var random = new Random(8254);
        ushort[] ports = [0x3f, 0x40, 0x41, 0x42, 0x43, 0x44, 0x61];
        int[] widths = [1, 2, 4];
        Span<byte> data = stackalloc byte[4];

        for (var i = 0; i < 20_000; i++)
        {
            var port = ports[random.Next(ports.Length)];
            var access = data[..widths[random.Next(widths.Length)]];
            if (random.Next(2) == 0)
            {
                random.NextBytes(access);
                _bus.Write(port, access);
            }
            else
            {
                _bus.Read(port, access);
            }

            if (random.Next(8) == 0)
            {
                _clock.Advance(TimeSpan.FromTicks(random.Next(20_000)));
            }
        }

        AssertEveryChangeIsAPulse();
    }

    [Fact]
    public void DisposeStopsThePulses()
    {
        Program(Counter0Port, Counter0Mode2, CountFor100Hz);
        _clock.Advance(TimeSpan.FromSeconds(0.1));
        var before = Pulses();

        _pit.Dispose();
        _clock.Advance(TimeSpan.FromSeconds(1));
        Program(Counter0Port, Counter0Mode0, 1);
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.InRange(before, 9, 11);
        Assert.Equal(before, Pulses());
        Assert.Equal(0, _clock.ArmedTimerCount);
    }

    private static TimeSpan PitTicks(long ticks) =>
        TimeSpan.FromTicks(((ticks * TimeSpan.TicksPerSecond) + Pit8254.InputClockHz - 1) / Pit8254.InputClockHz);

    private void AdvanceTo(DateTimeOffset time) => _clock.Advance(time - _clock.Now);

    private void Program(ushort port, byte controlWord, ushort count)
    {
        _bus.Out8(ControlWordPort, controlWord);
        _bus.Out8(port, (byte)count);
        _bus.Out8(port, (byte)(count >> 8));
    }

    private int ReadLatched(ushort port, int counter)
    {
        _bus.Out8(ControlWordPort, (byte)(counter << 6));
        var low = _bus.In8(port);
        return low | (_bus.In8(port) << 8);
    }

    private byte Status(int counter)
    {
        // Read-back: count not latched (bit 5 set), status latched (bit 4 clear), one counter selected.
        _bus.Out8(ControlWordPort, (byte)(0xe0 | (2 << counter)));
        return _bus.In8((ushort)(Counter0Port + counter));
    }

    private byte[] ReadBytes(ushort port, int count) => [.. Enumerable.Range(0, count).Select(_ => _bus.In8(port))];

    private int Pulses() => _irq0.Changes.Count(level => level);

    private void AssertEveryChangeIsAPulse()
    {
        var changes = _irq0.Changes;
        Assert.Equal(0, changes.Count % 2);
        for (var i = 0; i < changes.Count; i++)
        {
            Assert.Equal(i % 2 == 0, changes[i]);
        }
    }
}
