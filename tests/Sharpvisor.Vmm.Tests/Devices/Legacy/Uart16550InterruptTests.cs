using static Sharpvisor.Vmm.Tests.Devices.Legacy.UartHarness;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class Uart16550InterruptTests
{
    [Fact]
    public void ReceivedDataRaisesTheLineOnlyWhileEnabledAndUnread()
    {
        var uart = new UartHarness();
        uart.Uart.QueueInput("ab"u8, CancellationToken.None);
        Assert.False(uart.Line.IsAsserted);

        uart.Out(InterruptEnable, 0x01);
        Assert.True(uart.Line.IsAsserted);
        Assert.Equal(0x04, uart.In(InterruptId));
        Assert.True(uart.Line.IsAsserted); // reading IIR does not acknowledge received data

        Assert.Equal((byte)'a', uart.In(Data));
        Assert.True(uart.Line.IsAsserted);
        Assert.Equal((byte)'b', uart.In(Data));
        Assert.False(uart.Line.IsAsserted);
        Assert.Equal(0x01, uart.In(InterruptId));
    }

    [Fact]
    public void DisablingTheReceiveInterruptLowersTheLine()
    {
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x01);
        uart.Uart.QueueInput("a"u8, CancellationToken.None);
        Assert.True(uart.Line.IsAsserted);

        uart.Out(InterruptEnable, 0x00);

        Assert.False(uart.Line.IsAsserted);
        Assert.Equal(0x61, uart.In(LineStatus));
    }

    [Fact]
    public void TransmitterEmptyIsAcknowledgedByReadingIirAndRearmedByWritingThr()
    {
        var uart = new UartHarness();

        uart.Out(InterruptEnable, 0x02);
        Assert.True(uart.Line.IsAsserted);

        Assert.Equal(0x02, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);
        Assert.Equal(0x01, uart.In(InterruptId));

        uart.Out(Data, (byte)'x');
        Assert.True(uart.Line.IsAsserted);
        Assert.Equal(0x02, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);
    }

    [Fact]
    public void ReenablingTheTransmitterEmptyInterruptRaisesItAgain()
    {
        // The sequence Linux's 8250 driver uses at startup to detect UARTs that lose THRE interrupts.
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x02);
        Assert.Equal(0x02, uart.In(InterruptId));
        uart.Out(InterruptEnable, 0x00);

        uart.Out(InterruptEnable, 0x02);

        Assert.Equal(0x02, uart.In(InterruptId));
    }

    [Fact]
    public void ThrEmptyIsNotReportedWhileDisabledEvenIfPending()
    {
        var uart = new UartHarness();
        uart.Out(Data, (byte)'x');

        Assert.Equal(0x01, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);
    }

    [Fact]
    public void ReceivedDataOutranksTransmitterEmpty()
    {
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x03);
        uart.Uart.QueueInput("z"u8, CancellationToken.None);

        Assert.Equal(0x04, uart.In(InterruptId));
        Assert.Equal((byte)'z', uart.In(Data));
        Assert.Equal(0x02, uart.In(InterruptId));
        Assert.Equal(0x01, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);
    }

    [Fact]
    public void LineStatusOutranksReceivedDataAndClearsWhenLsrIsRead()
    {
        var uart = new UartHarness();
        uart.Out(ModemControl, 0x10);
        uart.Out(Data, 1);
        uart.Out(Data, 2); // overrun: no FIFO
        uart.Out(InterruptEnable, 0x07);

        Assert.Equal(0x06, uart.In(InterruptId));
        Assert.Equal(0x63, uart.In(LineStatus));
        Assert.Equal(0x04, uart.In(InterruptId));
    }

    [Fact]
    public void ModemStatusIsTheLowestPriorityAndClearsWhenMsrIsRead()
    {
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x0a);
        Assert.Equal(0x02, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);

        uart.Out(ModemControl, 0x10);
        Assert.True(uart.Line.IsAsserted);
        Assert.Equal(0x00, uart.In(InterruptId));

        uart.In(ModemStatus);
        Assert.Equal(0x01, uart.In(InterruptId));
        Assert.False(uart.Line.IsAsserted);
    }

    [Fact]
    public void BelowTheTriggerLevelTheFifoReportsACharacterTimeout()
    {
        var uart = new UartHarness();
        uart.Out(FifoControl, 0x81); // trigger at 8 bytes
        uart.Out(InterruptEnable, 0x01);

        uart.Uart.QueueInput("1234567"u8, CancellationToken.None);
        Assert.Equal(0xcc, uart.In(InterruptId));

        uart.Uart.QueueInput("8"u8, CancellationToken.None);
        Assert.Equal(0xc4, uart.In(InterruptId));
    }

    [Fact]
    public void TheLineIsDrivenOnlyWhenItsLevelChanges()
    {
        var uart = new UartHarness();
        uart.Out(InterruptEnable, 0x01);

        uart.Uart.QueueInput("a"u8, CancellationToken.None);
        uart.Uart.QueueInput("b"u8, CancellationToken.None);
        uart.Out(InterruptEnable, 0x03);
        uart.In(LineStatus);
        uart.DrainReceiver();
        uart.In(InterruptId); // acknowledges THRE

        Assert.Equal([true, false], uart.Line.Changes);
    }
}
