using static Sharpvisor.Vmm.Tests.Devices.Legacy.UartHarness;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>The UART's saved state: registers, waiting bytes and the interrupt line of a restored UART, and hostile sections refused.</summary>
public sealed class UartStateTests
{
    private readonly UartHarness _source = new();

    public UartStateTests()
    {
        // 9600 baud, 8N1, FIFOs on with a trigger level of 8, DTR/RTS/OUT2, receive interrupts on, a byte waiting.
        _source.Out(LineControl, 0x80);
        _source.Out(Data, 0x0c);
        _source.Out(InterruptEnable, 0x00);
        _source.Out(LineControl, 0x03);
        _source.Out(FifoControl, 0x81);
        _source.Out(ModemControl, 0x0b);
        _source.Out(Scratch, 0x5a);
        _source.Out(InterruptEnable, 0x01);
        _source.Uart.QueueInput("x"u8, CancellationToken.None);
        Assert.True(_source.Line.IsAsserted);
    }

    [Fact]
    public void ARestoredUartHasTheSavedRegistersAndRaisesItsLineForTheWaitingByte()
    {
        var restored = new UartHarness();

        restored.Uart.RestoreState(Save(_source.Uart));

        Assert.True(restored.Line.IsAsserted);
        Assert.Equal(0xcc, restored.In(InterruptId)); // character timeout (below the trigger level), FIFOs enabled
        Assert.Equal(0x03, restored.In(LineControl));
        Assert.Equal(0x0b, restored.In(ModemControl));
        Assert.Equal(0xb0, restored.In(ModemStatus));
        Assert.Equal(0x5a, restored.In(Scratch));
        Assert.Equal(0x01, restored.In(InterruptEnable));
        Assert.Equal(0x61, restored.In(LineStatus));
        Assert.Equal((byte)'x', restored.In(Data));
        Assert.False(restored.Line.IsAsserted);
        Assert.Equal(0xc1, restored.In(InterruptId));

        restored.Out(LineControl, 0x83);
        Assert.Equal(0x0c, restored.In(Data));
        Assert.Equal(0x00, restored.In(InterruptEnable));
    }

    [Fact]
    public void HostInputWaitingBehindAFullFifoComesThroughInOrder()
    {
        var input = Enumerable.Range(0, 40).Select(i => (byte)('a' + (i % 26))).ToArray();
        _source.Uart.QueueInput(input, CancellationToken.None);
        var restored = new UartHarness();

        restored.Uart.RestoreState(Save(_source.Uart));

        Assert.Equal([(byte)'x', .. input], restored.DrainReceiver());
    }

    [Fact]
    public void LoopbackAndPendingModemStatusChangesSurvive()
    {
        _source.Out(ModemControl, 0x10); // loopback with every output low: CTS, DSR and DCD fall
        _source.Out(InterruptEnable, 0x08);
        _source.Out(Data, 0x42);
        var restored = new UartHarness();

        restored.Uart.RestoreState(Save(_source.Uart));

        Assert.True(restored.Line.IsAsserted);
        Assert.Equal(0xc0, restored.In(InterruptId)); // modem status
        Assert.Equal(0x0b, restored.In(ModemStatus));
        Assert.Equal(0x00, restored.In(ModemStatus));
        Assert.False(restored.Line.IsAsserted);
        Assert.Equal([(byte)'x', 0x42], restored.DrainReceiver());
        Assert.Empty(restored.Transmitted);
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(new UartHarness().Uart, Save(_source.Uart));

    [Theory]
    [InlineData(0, 0x10, "IER 0x10")]
    [InlineData(2, 0x20, "MCR 0x20")]
    [InlineData(7, 0x02, "2 is not a boolean")]
    [InlineData(8, 2, "receive trigger level 2")]
    [InlineData(11, 0x10, "modem status deltas 0x10")]
    public void FieldsOutOfRangeAreRefused(int offset, byte value, string expected) =>
        AssertRefused(new UartHarness().Uart, WithU8(Save(_source.Uart), offset, value), expected);

    [Fact]
    public void ATriggerLevelAboveOneWithoutFifosIsRefused()
    {
        _source.Out(FifoControl, 0x00);

        AssertRefused(new UartHarness().Uart, WithU8(Save(_source.Uart), 8, 4), "receive trigger level 4");
    }

    [Fact]
    public void MoreReceivedBytesThanTheReceiverHoldsAreRefused()
    {
        _source.Out(FifoControl, 0x00);
        _source.Uart.QueueInput("yz"u8, CancellationToken.None);
        var section = Save(_source.Uart);

        // Without FIFOs the holding register has one byte ('y'; 'z' waits on the host side): claim two.
        const int receivedLength = 12;
        Assert.Equal(1u, BitConverter.ToUInt32(section.Payload, receivedLength));
        AssertRefused(new UartHarness().Uart, WithU32(section, receivedLength, 2), "2 received bytes overfill a 1-byte receiver");
    }

    [Fact]
    public void MoreHostInputThanThisUartQueuesIsRefused()
    {
        _source.Uart.QueueInput(new byte[40], CancellationToken.None);

        AssertRefused(new UartHarness(hostQueueCapacity: 16).Uart, Save(_source.Uart), "25 bytes of host input overfill this UART's 16-byte queue");
    }
}
