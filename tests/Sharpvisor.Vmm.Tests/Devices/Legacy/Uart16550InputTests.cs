using static Sharpvisor.Vmm.Tests.Devices.Legacy.UartHarness;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

public class Uart16550InputTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public void AHostWriterBlocksWhileTheQueueIsFullAndResumesWhenTheGuestReads()
    {
        // Capacity 4 in the host queue plus 16 in the FIFO: 20 bytes fit, the 21st must wait.
        var uart = new UartHarness(hostQueueCapacity: 4);
        uart.Out(FifoControl, 0x01);
        var sent = Enumerable.Range(0, 30).Select(i => (byte)i).ToArray();

        var writer = HostThread.Start(() => uart.Uart.QueueInput(sent, CancellationToken.None));

        Assert.True(SpinWait.SpinUntil(() => (uart.In(LineStatus) & 0x01) != 0, Patience));
        Assert.False(writer.Join(TimeSpan.FromMilliseconds(200)), "the writer should block while 20 bytes wait");

        var received = new List<byte>();
        var deadline = DateTime.UtcNow + Patience;
        while (received.Count < sent.Length && DateTime.UtcNow < deadline)
        {
            received.AddRange(uart.DrainReceiver());
        }

        Assert.True(writer.Join(Patience));
        Assert.Null(writer.Failure);
        Assert.Equal(sent, received);
    }

    [Fact]
    public void ABlockedHostWriterStopsOnCancellation()
    {
        var uart = new UartHarness(hostQueueCapacity: 1);
        using var cancellation = new CancellationTokenSource();

        var writer = HostThread.Start(() => uart.Uart.QueueInput("abcdef"u8, cancellation.Token));
        Assert.False(writer.Join(TimeSpan.FromMilliseconds(200)));

        cancellation.Cancel();

        Assert.True(writer.Join(Patience));
        Assert.IsType<OperationCanceledException>(writer.Failure, exactMatch: false);
        Assert.Equal("ab"u8.ToArray(), uart.DrainReceiver()); // the holding register and the one queued byte
    }

    [Fact]
    public void HostInputRaisesTheLineFromAnotherThreadWhileTheGuestTakesInterrupts()
    {
        var uart = new UartHarness(hostQueueCapacity: 8);
        uart.Out(FifoControl, 0xc7);
        uart.Out(InterruptEnable, 0x01);
        var sent = Enumerable.Range(0, 5000).Select(i => (byte)(i % 251)).ToArray();

        var writer = HostThread.Start(() => uart.Uart.QueueInput(sent, CancellationToken.None));

        // An interrupt-driven guest: wait for the line, read IIR, drain while LSR.DR.
        var received = new List<byte>();
        var deadline = DateTime.UtcNow + Patience;
        while (received.Count < sent.Length && DateTime.UtcNow < deadline)
        {
            if (!uart.Line.IsAsserted)
            {
                Thread.Yield();
                continue;
            }

            Assert.Contains(uart.In(InterruptId), new byte[] { 0xc4, 0xcc });
            received.AddRange(uart.DrainReceiver());
        }

        Assert.True(writer.Join(Patience));
        Assert.Null(writer.Failure);
        Assert.Equal(sent, received);
        Assert.False(uart.Line.IsAsserted);
    }

    [Fact]
    public void HostileRegisterSequencesNeverThrow()
    {
        // Room for all host input even if the guest leaves loopback on and never reads, so nothing blocks.
        var uart = new UartHarness(hostQueueCapacity: 64);
        var random = new Random(1234);
        Span<byte> buffer = stackalloc byte[4];

        for (var i = 0; i < 20_000; i++)
        {
            var width = 1 << random.Next(3);
            var port = (ushort)(0x3f8 + random.Next(8 - width + 1));
            var data = buffer[..width];
            if (random.Next(2) == 0)
            {
                random.NextBytes(data);
                uart.Bus.Write(port, data);
            }
            else
            {
                uart.Bus.Read(port, data);
            }

            if (i % 1000 == 0)
            {
                uart.Uart.QueueInput([(byte)i], CancellationToken.None);
            }
        }

        // Whatever state the guest left, the device still works once it is programmed sanely.
        uart.Out(LineControl, 0x03);
        uart.Out(ModemControl, 0x00);
        uart.Out(InterruptEnable, 0x00);
        uart.Out(FifoControl, 0x07);
        uart.DrainReceiver();
        ((MemoryStream)uart.Output).SetLength(0);
        uart.Out(Data, (byte)'!');
        Assert.Equal("!"u8.ToArray(), uart.Transmitted);
        Assert.Equal(0x60, uart.In(LineStatus));
    }
}
