using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>The RTC's saved state: a restored RTC keeps the guest's clock, its settings and CMOS, and hostile sections are refused.</summary>
public sealed class CmosRtcStateTests
{
    private const ushort IndexPort = 0x70;
    private const ushort DataPort = 0x71;
    private const int StatusBOffset = 134;

    private static readonly DateTimeOffset SavedAt = new(2024, 3, 9, 13, 45, 27, TimeSpan.Zero);

    private readonly Rtc _source = new(SavedAt);

    public CmosRtcStateTests()
    {
        _source.Write(0x0a, 0x2f);
        _source.Write(0x40, 0xab);
    }

    [Fact]
    public void TheGuestsClockKeepsItsOffsetFromUtcAndRunsOnWhileSaved()
    {
        _source.Write(0x0b, 0x06); // binary, 24-hour
        _source.Write(0x04, 5); // without SET: the clock runs on from 05:45:27
        _source.Write(0x7f, 0xcd);
        var restored = new Rtc(SavedAt.AddHours(1));

        restored.Device.RestoreState(Save(_source.Device));

        Assert.Equal(0xcd, restored.Bus.In8(DataPort)); // the index still selects the byte last written
        Assert.Equal([27, 45, 6, 7, 9, 3, 24, 20], restored.ReadTime());
        Assert.Equal(0x2f, restored.Read(0x0a));
        Assert.Equal(0x06, restored.Read(0x0b));
        Assert.Equal(0xab, restored.Read(0x40));
    }

    [Fact]
    public void AClockStoppedForSettingStaysStoppedWithWhatTheGuestWrote()
    {
        _source.Write(0x0b, 0x82); // SET, BCD, 24-hour
        _source.Write(0x04, 0x07);
        _source.Write(0x02, 0x30);
        var restored = new Rtc(SavedAt.AddDays(1));

        restored.Device.RestoreState(Save(_source.Device));
        restored.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([0x27, 0x30, 0x07, 0x07, 0x09, 0x03, 0x24, 0x20], restored.ReadTime());
        restored.Write(0x0b, 0x02);
        restored.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0x29, restored.Read(0x00));
    }

    [Fact]
    public void StatusCReportsTheNextUpdateAsBefore()
    {
        _source.Write(0x0b, 0x12); // update-ended interrupt enabled
        _ = _source.Read(0x0c);
        var restored = new Rtc(SavedAt);

        restored.Device.RestoreState(Save(_source.Device));

        Assert.Equal(0x00, restored.Read(0x0c));
        restored.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0x90, restored.Read(0x0c));
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(new Rtc(SavedAt).Device, Save(_source.Device));

    [Theory]
    [InlineData(132, 0x80, "index 0x80 is past the last register")]
    [InlineData(133, 0xa6, "status A 0xa6 has the read-only UIP bit set")]
    [InlineData(StatusBOffset, 0x82, "status B 0x82 and whether the clock is stopped for setting disagree")]
    [InlineData(143, 2, "2 is not a boolean")]
    public void FieldsOutOfRangeAreRefused(int offset, byte value, string expected) =>
        AssertRefused(new Rtc(SavedAt).Device, WithU8(Save(_source.Device), offset, value), expected);

    [Fact]
    public void StorageOfTheWrongSizeIsRefused() =>
        AssertRefused(new Rtc(SavedAt).Device, WithU32(Save(_source.Device), 0, 127), "storage has 127 bytes, not 128");

    [Fact]
    public void UpdateInterruptsEnabledWhileSettingAreRefused()
    {
        _source.Write(0x0b, 0x82);

        AssertRefused(new Rtc(SavedAt).Device, WithU8(Save(_source.Device), StatusBOffset, 0x92), "status B 0x92 has UIE set with SET");
    }

    [Theory]
    [InlineData(135, long.MinValue, "guest clock offset -9223372036854775808 is longer than the calendar")]
    [InlineData(152, -1L, "second seen by status C -1 is outside the calendar")]
    [InlineData(152, long.MaxValue, "second seen by status C 9223372036854775807 is outside the calendar")]
    public void TimesOutOfRangeAreRefused(int offset, long value, string expected) =>
        AssertRefused(new Rtc(SavedAt).Device, WithU64(Save(_source.Device), offset, (ulong)value), expected);

    /// <summary>An RTC on a port bus with its own manual clock.</summary>
    private sealed class Rtc
    {
        public Rtc(DateTimeOffset now)
        {
            Clock = new ManualClock(now);
            Device = new CmosRtc(Clock);
            Bus.Register(IndexPort, CmosRtc.RangeLength, Device);
        }

        public ManualClock Clock { get; }

        public CmosRtc Device { get; }

        public IoBus Bus { get; } = new("pio");

        public byte Read(byte index)
        {
            Bus.Out8(IndexPort, index);
            return Bus.In8(DataPort);
        }

        public void Write(byte index, byte value)
        {
            Bus.Out8(IndexPort, index);
            Bus.Out8(DataPort, value);
        }

        public byte[] ReadTime() => [.. new byte[] { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 }.Select(Read)];
    }
}
