using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>A UART on COM1 of a port bus, with its output captured and its IRQ line recorded.</summary>
internal sealed class UartHarness
{
    public const ushort Data = 0x3f8;
    public const ushort InterruptEnable = 0x3f9;
    public const ushort InterruptId = 0x3fa;
    public const ushort FifoControl = 0x3fa;
    public const ushort LineControl = 0x3fb;
    public const ushort ModemControl = 0x3fc;
    public const ushort LineStatus = 0x3fd;
    public const ushort ModemStatus = 0x3fe;
    public const ushort Scratch = 0x3ff;

    public UartHarness(int hostQueueCapacity = Uart16550.DefaultHostQueueCapacity, Stream? output = null)
    {
        Output = output ?? new MemoryStream();
        Uart = new Uart16550(Line, Output, hostQueueCapacity);
        Bus.Register(0x3f8, 8, Uart);
    }

    public IoBus Bus { get; } = new("pio");

    public RecordingInterruptLine Line { get; } = new();

    public Stream Output { get; }

    public Uart16550 Uart { get; }

    public byte[] Transmitted => ((MemoryStream)Output).ToArray();

    public byte In(ushort port) => Bus.In8(port);

    public void Out(ushort port, byte value) => Bus.Out8(port, value);

    /// <summary>Reads what the guest would see by polling LSR.DR and RBR until the receiver is empty.</summary>
    public List<byte> DrainReceiver()
    {
        var received = new List<byte>();
        while ((In(LineStatus) & 0x01) != 0)
        {
            received.Add(In(Data));
        }

        return received;
    }
}
