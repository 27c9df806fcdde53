using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class I8042ControllerTests
{
    private const ushort DataPort = 0x60;
    private const ushort CommandPort = 0x64;
    private const byte OutputFull = 0x01;
    private const byte AuxData = 0x20;

    private readonly IoBus _bus = new("pio");
    private int _resets;

    public I8042ControllerTests() =>
        _bus.Register(0x60, I8042Controller.RangeLength, new I8042Controller(() => Interlocked.Increment(ref _resets)));

    [Fact]
    public void SelfTestAnswers0x55ThroughTheOutputBuffer()
    {
        Assert.Equal(0, _bus.In8(CommandPort) & OutputFull);

        _bus.Out8(CommandPort, 0xaa);

        Assert.Equal(OutputFull | 0x04, _bus.In8(CommandPort) & (OutputFull | 0x04)); // data waiting, system flag
        Assert.Equal(0x55, _bus.In8(DataPort));
        Assert.Equal(0, _bus.In8(CommandPort) & OutputFull);
    }

    [Theory]
    [InlineData(0xab)]
    [InlineData(0xa9)]
    public void InterfaceTestsPass(byte command)
    {
        _bus.Out8(CommandPort, command);

        Assert.Equal(OutputFull, _bus.In8(CommandPort) & OutputFull);
        Assert.Equal(0x00, _bus.In8(DataPort));
    }

    [Fact]
    public void TheCommandByteCanBeWrittenAndReadBack()
    {
        _bus.Out8(CommandPort, 0x60);
        _bus.Out8(DataPort, 0x47);

        _bus.Out8(CommandPort, 0x20);

        Assert.Equal(0x47, _bus.In8(DataPort));
    }

    [Theory]
    [InlineData(0xad, 0x10, true)]
    [InlineData(0xae, 0x10, false)]
    [InlineData(0xa7, 0x20, true)]
    [InlineData(0xa8, 0x20, false)]
    public void EnableAndDisableCommandsShowInTheCommandByte(byte command, byte bit, bool set)
    {
        _bus.Out8(CommandPort, 0x60);
        _bus.Out8(DataPort, set ? (byte)0x00 : (byte)0x30);

        _bus.Out8(CommandPort, command);
        _bus.Out8(CommandPort, 0x20);

        Assert.Equal(set ? bit : 0, _bus.In8(DataPort) & bit);
    }

    [Fact]
    public void PulsingOutputLineZeroResetsTheCpu()
    {
        _bus.Out8(CommandPort, 0xff); // pulses nothing
        Assert.Equal(0, _resets);

        _bus.Out8(CommandPort, 0xfe);

        Assert.Equal(1, _resets);
    }

    [Fact]
    public void WritingTheOutputPortWithBitZeroClearResetsTheCpu()
    {
        _bus.Out8(CommandPort, 0xd1);
        _bus.Out8(DataPort, 0xdf); // A20 on, reset deasserted: what old boot loaders write
        Assert.Equal(0, _resets);
        _bus.Out8(CommandPort, 0xd0);
        Assert.Equal(0xdf, _bus.In8(DataPort));

        _bus.Out8(CommandPort, 0xd1);
        _bus.Out8(DataPort, 0xde);

        Assert.Equal(1, _resets);
    }

    [Fact]
    public void AuxLoopbackEchoesTheByteAsMouseData()
    {
        _bus.Out8(CommandPort, 0xd3);
        _bus.Out8(DataPort, 0x5a);

        Assert.Equal(OutputFull | AuxData, _bus.In8(CommandPort) & (OutputFull | AuxData));
        Assert.Equal(0x5a, _bus.In8(DataPort));
        Assert.Equal(0, _bus.In8(CommandPort) & (OutputFull | AuxData));
    }

    [Fact]
    public void BytesForTheMissingKeyboardAndMouseAreIgnored()
    {
        _bus.Out8(DataPort, 0xff);
        _bus.Out8(CommandPort, 0xd4);
        _bus.Out8(DataPort, 0xf4);

        Assert.Equal(0, _bus.In8(CommandPort) & OutputFull);
        Assert.Equal(0, _resets);

        _bus.Out8(CommandPort, 0x20); // the command byte did not change either
        Assert.Equal(0x45, _bus.In8(DataPort));
    }

    [Fact]
    public void TheStatusRecordsWhetherTheLastWriteWasACommand()
    {
        _bus.Out8(CommandPort, 0xae);
        Assert.Equal(0x08, _bus.In8(CommandPort) & 0x08);

        _bus.Out8(DataPort, 0xf4);
        Assert.Equal(0, _bus.In8(CommandPort) & 0x08);
    }

    [Theory]
    [InlineData(0x61)]
    [InlineData(0x62)]
    [InlineData(0x63)]
    public void OffsetsBetweenTheTwoPortsAreOpenBus(ushort port)
    {
        _bus.Out8(port, 0xfe);

        Assert.Equal(0xff, _bus.In8(port));
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void TheResetCallbackRunsOutsideTheDeviceLock()
    {
        var bus = new IoBus("pio");
        var statusSeenFromAnotherThread = -1;
        bus.Register(0x60, I8042Controller.RangeLength, new I8042Controller(() =>
        {
            // Another vCPU touching the controller while the machine handles the reset must not deadlock.
            var other = Task.Run(() => bus.In8(CommandPort));
            statusSeenFromAnotherThread = other.Wait(TimeSpan.FromSeconds(10)) ? other.Result : -1;
        }));

        bus.Out8(CommandPort, 0xfe);

        Assert.NotEqual(-1, statusSeenFromAnotherThread);
    }
}
