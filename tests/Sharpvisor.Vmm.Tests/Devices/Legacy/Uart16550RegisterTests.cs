using static Sharpvisor.Vmm.Tests.Devices.Legacy.UartHarness;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class Uart16550RegisterTests
{
    [Fact]
    public void BytesWrittenToThrReachTheOutputStream()
    {
        var uart = new UartHarness();

        foreach (var b in "hi\n"u8)
        {
            uart.Out(Data, b);
        }

        Assert.Equal("hi\n"u8.ToArray(), uart.Transmitted);
    }

    [Fact]
    public void WithoutAnOutputStreamTransmittedBytesAreDiscarded()
    {
        var line = new RecordingInterruptLine();
        var uart = new Sharpvisor.Vmm.Devices.Legacy.Uart16550(line, output: null);

        uart.Write(0, [(byte)'x']);
        uart.Flush();

        Span<byte> status = stackalloc byte[1];
        uart.Read(5, status);
        Assert.Equal(0x60, status[0]);
    }

    [Fact]
    public void AnOutputStreamThatFailsDoesNotCrashTheGuest()
    {
        var uart = new UartHarness(output: new FailingStream());

        uart.Out(Data, (byte)'a');
        uart.Out(Data, (byte)'b');
        uart.Uart.Flush();

        Assert.Equal(0x60, uart.In(LineStatus));
    }

    [Fact]
    public void DlabSwitchesTheFirstTwoRegistersToTheDivisorLatch()
    {
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x00);

        uart.Out(LineControl, 0x83);
        uart.Out(Data, 0x0c);
        uart.Out(InterruptEnable, 0x01);
        Assert.Equal(0x0c, uart.In(Data));
        Assert.Equal(0x01, uart.In(InterruptEnable));
        Assert.Equal(0x83, uart.In(LineControl));

        uart.Out(LineControl, 0x03);
        Assert.Equal(0x00, uart.In(InterruptEnable));
        Assert.Empty(uart.Transmitted);
        Assert.False(uart.Line.IsAsserted);

        uart.Out(LineControl, 0x80);
        Assert.Equal(0x0c, uart.In(Data));
        Assert.Equal(0x01, uart.In(InterruptEnable));
    }

    [Fact]
    public void LineStatusReportsAnEmptyTransmitterAndDataReady()
    {
        var uart = new UartHarness();
        Assert.Equal(0x60, uart.In(LineStatus));

        uart.Uart.QueueInput("k"u8, CancellationToken.None);
        Assert.Equal(0x61, uart.In(LineStatus));

        Assert.Equal((byte)'k', uart.In(Data));
        Assert.Equal(0x60, uart.In(LineStatus));
    }

    [Fact]
    public void LoopbackReturnsTransmittedBytesToTheReceiverInsteadOfTheOutput()
    {
        var uart = new UartHarness();
        uart.Out(ModemControl, 0x10);
        uart.Uart.QueueInput("host"u8, CancellationToken.None);
        Assert.Equal(0x00, uart.In(LineStatus) & 0x01);

        uart.Out(Data, 0x5a);

        Assert.Empty(uart.Transmitted);
        Assert.Equal([0x5a], uart.DrainReceiver());

        // Host input waited during loopback and flows again once it ends.
        uart.Out(ModemControl, 0x00);
        Assert.Equal("host"u8.ToArray(), uart.DrainReceiver());
    }

    [Theory]
    [InlineData(0x1a, 0x90)] // Linux's 8250 presence check: RTS|OUT2 must read back as CTS|DCD
    [InlineData(0x1f, 0xf0)]
    [InlineData(0x11, 0x20)]
    [InlineData(0x14, 0x40)]
    public void LoopbackWiresModemControlIntoModemStatus(byte modemControl, byte expectedLines)
    {
        var uart = new UartHarness();

        uart.Out(ModemControl, modemControl);

        Assert.Equal(expectedLines, uart.In(ModemStatus) & 0xf0);
    }

    [Fact]
    public void OutsideLoopbackTheModemLinesSayTheHostIsReadyAndDeltasClearOnRead()
    {
        var uart = new UartHarness();
        Assert.Equal(0xb0, uart.In(ModemStatus));

        uart.Out(ModemControl, 0x10 | 0x04); // loopback with only OUT1: CTS, DSR, DCD drop; RI rises
        Assert.Equal(0x40 | 0x01 | 0x02 | 0x08, uart.In(ModemStatus));
        Assert.Equal(0x40, uart.In(ModemStatus));

        uart.Out(ModemControl, 0x10); // RI falls: trailing-edge indicator
        Assert.Equal(0x04, uart.In(ModemStatus));
    }

    [Fact]
    public void LoopbackIntoAFullFifoSetsOverrunUntilLineStatusIsRead()
    {
        var uart = new UartHarness();
        uart.Out(FifoControl, 0x07);
        uart.Out(ModemControl, 0x10);

        for (var i = 0; i < 17; i++)
        {
            uart.Out(Data, (byte)i);
        }

        Assert.Equal(0x63, uart.In(LineStatus));
        Assert.Equal(0x61, uart.In(LineStatus));
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (byte)i), uart.DrainReceiver());
    }

    [Fact]
    public void WithoutTheFifoTheReceiverHoldsOneByteAndLoopbackOverrunsOnTheSecond()
    {
        var uart = new UartHarness();
        uart.Out(ModemControl, 0x10);

        uart.Out(Data, 1);
        uart.Out(Data, 2);

        Assert.Equal(0x63, uart.In(LineStatus));
        Assert.Equal([1], uart.DrainReceiver());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReceivedBytesArriveInOrder(bool fifoEnabled)
    {
        var uart = new UartHarness();
        uart.Out(FifoControl, fifoEnabled ? (byte)0x07 : (byte)0x00);
        var sent = Enumerable.Range(0, 100).Select(i => (byte)(i * 7)).ToArray();

        uart.Uart.QueueInput(sent, CancellationToken.None);

        Assert.Equal(sent, uart.DrainReceiver());
    }

    [Fact]
    public void ClearingTheReceiveFifoDropsOnlyWhatTheFifoHeld()
    {
        var uart = new UartHarness();
        uart.Out(FifoControl, 0x01);
        var sent = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        uart.Uart.QueueInput(sent, CancellationToken.None);

        uart.Out(FifoControl, 0x03);

        Assert.Equal(sent[16..], uart.DrainReceiver());
    }

    [Fact]
    public void InterruptIdShowsTheFifoBitsOnlyWhileTheFifoIsEnabled()
    {
        var uart = new UartHarness();
        Assert.Equal(0x01, uart.In(InterruptId));

        uart.Out(FifoControl, 0x01);
        Assert.Equal(0xc1, uart.In(InterruptId));

        uart.Out(FifoControl, 0x00);
        Assert.Equal(0x01, uart.In(InterruptId));
    }

    [Fact]
    public void ScratchRegisterKeepsItsValue()
    {
        var uart = new UartHarness();

        uart.Out(Scratch, 0xa5);

        Assert.Equal(0xa5, uart.In(Scratch));
    }

    [Fact]
    public void InterruptEnableKeepsOnlyTheFourDefinedBits()
    {
        var uart = new UartHarness();

        uart.Out(InterruptEnable, 0xff);

        Assert.Equal(0x0f, uart.In(InterruptEnable));
    }

    private sealed class FailingStream : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => throw new IOException("broken pipe");

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("broken pipe");
    }
}
