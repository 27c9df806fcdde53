using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class DebugExitPortTests
{
    private readonly IoBus _bus = new("pio");
    private readonly List<int> _statuses = [];

    public DebugExitPortTests() => _bus.Register(0xf4, DebugExitPort.RangeLength, new DebugExitPort(_statuses.Add));

    [Theory]
    [InlineData(0x00, 1)]
    [InlineData(0x01, 3)]
    [InlineData(0x10, 0x21)]
    [InlineData(0xff, 0x1ff)]
    public void AByteWriteExitsWithTwiceTheValuePlusOne(byte value, int expected)
    {
        _bus.Out8(0xf4, value);

        Assert.Equal([expected], _statuses);
    }

    [Fact]
    public void AWordWriteUsesAllSixteenBits()
    {
        _bus.Out16(0xf4, 0x1234);

        Assert.Equal([0x2469], _statuses);
    }

    [Theory]
    [InlineData(0x12345678u, 0x2468acf1)]
    [InlineData(0xffffffffu, -1)] // 0x1_ffff_ffff truncated to 32 bits
    public void ADoubleWordWriteUsesAllThirtyTwoBits(uint value, int expected)
    {
        _bus.Out32(0xf4, value);

        Assert.Equal([expected], _statuses);
    }

    [Fact]
    public void ReadsReturnAllOnesAndDoNotExit()
    {
        Assert.Equal(0xffffffffu, _bus.In32(0xf4));
        Assert.Empty(_statuses);
    }
}
