using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class CmosRtcTests
{
    private const ushort IndexPort = 0x70;
    private const ushort DataPort = 0x71;

    // A Saturday afternoon.
    private readonly ManualClock _clock = new(new DateTimeOffset(2024, 3, 9, 13, 45, 27, TimeSpan.Zero));
    private readonly IoBus _bus = new("pio");

    public CmosRtcTests() => _bus.Register(0x70, CmosRtc.RangeLength, new CmosRtc(_clock));

    [Fact]
    public void TimeReadsAsBcdByDefault()
    {
        Assert.Equal(0x02, ReadCmos(0x0b));
        Assert.Equal(
            [0x27, 0x45, 0x13, 0x07, 0x09, 0x03, 0x24, 0x20],
            ReadTime());
    }

    [Fact]
    public void BinaryModeReadsPlainNumbers()
    {
        WriteCmos(0x0b, 0x06);

        Assert.Equal([27, 45, 13, 7, 9, 3, 24, 20], ReadTime());
    }

    [Theory]
    [InlineData(0, false, 0x12)]
    [InlineData(1, false, 0x01)]
    [InlineData(11, false, 0x11)]
    [InlineData(12, false, 0x92)]
    [InlineData(13, false, 0x81)]
    [InlineData(23, false, 0x91)]
    [InlineData(0, true, 12)]
    [InlineData(12, true, 0x8c)]
    [InlineData(23, true, 0x8b)]
    public void TwelveHourModeCountsOneToTwelveWithAPmBit(int hour, bool binary, byte expected)
    {
        _clock.Now = new DateTimeOffset(2024, 3, 9, hour, 0, 0, TimeSpan.Zero);

        WriteCmos(0x0b, binary ? (byte)0x04 : (byte)0x00);

        Assert.Equal(expected, ReadCmos(0x04));
    }

    [Fact]
    public void TheCenturyRegisterFollowsTheYear()
    {
        _clock.Now = new DateTimeOffset(1999, 12, 31, 23, 59, 59, TimeSpan.Zero);
        Assert.Equal(0x19, ReadCmos(0x32));
        Assert.Equal(0x99, ReadCmos(0x09));

        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(0x20, ReadCmos(0x32));
        Assert.Equal(0x00, ReadCmos(0x09));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(9_990_000, false)] // 999.000 ms: more than 244 µs before the tick
    [InlineData(9_997_600, true)]  // 999.760 ms: 240 µs before the tick
    [InlineData(9_999_999, true)]
    public void UpdateInProgressIsSetJustBeforeEachSecondTicks(long ticksIntoSecond, bool expected)
    {
        _clock.Now = new DateTimeOffset(2024, 3, 9, 13, 45, 27, TimeSpan.Zero).AddTicks(ticksIntoSecond);

        var statusA = ReadCmos(0x0a);

        Assert.Equal(expected, (statusA & 0x80) != 0);
        Assert.Equal(0x26, statusA & 0x7f);
    }

    [Fact]
    public void StatusDReportsValidRam()
    {
        Assert.Equal(0x80, ReadCmos(0x0d));
    }

    [Fact]
    public void ATimeWrittenUnderSetKeepsRunningFromWhereTheGuestPutIt()
    {
        WriteCmos(0x0b, 0x82);
        WriteTime(seconds: 0x58, minutes: 0x59, hours: 0x23, day: 0x31, month: 0x12, year: 0x99, century: 0x19);
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0x58, ReadCmos(0x00)); // SET holds the clock
        Assert.Equal(0, ReadCmos(0x0a) & 0x80);

        WriteCmos(0x0b, 0x02);
        _clock.Advance(TimeSpan.FromSeconds(3));

        // 1999-12-31 23:59:58 + 3 s is Saturday 2000-01-01 00:00:01.
        Assert.Equal([0x01, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20], ReadTime());
    }

    [Fact]
    public void ATimeWrittenInBinaryTwelveHourModeIsDecodedInThatMode()
    {
        WriteCmos(0x0b, 0x84);
        WriteTime(seconds: 5, minutes: 6, hours: 0x87, day: 28, month: 2, year: 30, century: 20);
        WriteCmos(0x0b, 0x06);

        Assert.Equal([5, 6, 19, 5, 28, 2, 30, 20], ReadTime()); // 2030-02-28 is a Thursday
    }

    [Fact]
    public void AFieldWrittenWithoutSetTakesEffectImmediately()
    {
        WriteCmos(0x02, 0x10);

        _clock.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal(0x12, ReadCmos(0x02));
        Assert.Equal(0x13, ReadCmos(0x04));
    }

    [Fact]
    public void AnImpossibleDateIsRefusedAndTheClockKeepsHostTime()
    {
        WriteCmos(0x0b, 0x82);
        WriteCmos(0x08, 0x02);
        WriteCmos(0x07, 0x30); // February 30th
        WriteCmos(0x0b, 0x02);

        Assert.Equal([0x27, 0x45, 0x13, 0x07, 0x09, 0x03, 0x24, 0x20], ReadTime());
    }

    [Fact]
    public void TheNmiMaskBitOfTheIndexIsIgnored()
    {
        _bus.Out8(IndexPort, 0x80 | 0x00);

        Assert.Equal(0x27, _bus.In8(DataPort));
    }

    [Theory]
    [InlineData(0x0e)]
    [InlineData(0x10)]
    [InlineData(0x40)]
    [InlineData(0x7f)]
    [InlineData(0x01)] // alarm seconds
    public void OtherBytesAreStorage(byte index)
    {
        WriteCmos(index, 0xa5);

        Assert.Equal(0xa5, ReadCmos(index));
        Assert.Equal([0x27, 0x45, 0x13, 0x07, 0x09, 0x03, 0x24, 0x20], ReadTime());
    }

    [Fact]
    public void StatusCReportsUpdateEndedOncePerTick()
    {
        ReadCmos(0x0c);
        Assert.Equal(0x00, ReadCmos(0x0c));

        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(0x10, ReadCmos(0x0c));
        Assert.Equal(0x00, ReadCmos(0x0c));
    }

    [Fact]
    public void HostileWritesNeverThrow()
    {
        var random = new Random(42);
        for (var i = 0; i < 20_000; i++)
        {
            var index = (byte)random.Next(256);
            if (random.Next(2) == 0)
            {
                WriteCmos(index, (byte)random.Next(256));
            }
            else
            {
                ReadCmos(index);
            }

            _clock.Advance(TimeSpan.FromTicks(random.Next(100_000_000)));
        }

        WriteCmos(0x0b, 0x02);
        Assert.Equal(0x80, ReadCmos(0x0d));
    }

    private byte ReadCmos(byte index)
    {
        _bus.Out8(IndexPort, index);
        return _bus.In8(DataPort);
    }

    private void WriteCmos(byte index, byte value)
    {
        _bus.Out8(IndexPort, index);
        _bus.Out8(DataPort, value);
    }

    private byte[] ReadTime() =>
        [.. new byte[] { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 }.Select(ReadCmos)];

    private void WriteTime(byte seconds, byte minutes, byte hours, byte day, byte month, byte year, byte century)
    {
        WriteCmos(0x00, seconds);
        WriteCmos(0x02, minutes);
        WriteCmos(0x04, hours);
        WriteCmos(0x07, day);
        WriteCmos(0x08, month);
        WriteCmos(0x09, year);
        WriteCmos(0x32, century);
    }
}
