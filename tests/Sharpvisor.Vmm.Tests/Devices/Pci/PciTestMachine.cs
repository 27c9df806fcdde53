using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Tests.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

internal sealed class RecordingMsiSink : IMsiSink
{
    public List<(ulong Address, uint Data)> Messages { get; } = [];

    public void SignalMsi(ulong address, uint data)
    {
        lock (Messages)
        {
            Messages.Add((address, data));
        }
    }

    public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes)
    {
    }
}

/// <summary>A little register file: answers reads with what was written, so a test can tell the BAR is there.</summary>
internal sealed class ScratchRegisters(int size) : IBusDevice
{
    private readonly byte[] _bytes = new byte[size];

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_bytes)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var at = offset + (ulong)i;
                data[i] = at < (ulong)_bytes.Length ? _bytes[at] : (byte)0;
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_bytes)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var at = offset + (ulong)i;
                if (at < (ulong)_bytes.Length)
                {
                    _bytes[at] = data[i];
                }
            }
        }
    }
}

/// <summary>
/// A test function: BAR0 32-bit memory 16 KiB (MSI-X table at 0, PBA at 0x2000, scratch at 0x3000),
/// BAR2 64-bit prefetchable memory 4 KiB, BAR4 I/O 32 ports; a vendor capability, then MSI-X with 8 vectors.
/// </summary>
internal sealed class TestFunction : PciDevice
{
    public const ushort Vendor = 0x1AF4;
    public const ushort Device = 0x1042;
    public const uint Class = 0x01_80_00;
    public const ulong Bar0Size = 0x4000;
    public const ulong TableOffset = 0;
    public const ulong PbaOffset = 0x2000;
    public const ulong ScratchOffset = 0x3000;
    public const int Vectors = 8;

    public TestFunction(IMsiSink sink)
        : base(new PciConfigSpace(Vendor, Device, Class, revisionId: 1, subsystemVendorId: 0x1AF4, subsystemId: 0x0002, interruptPin: 1))
    {
        VendorCapability = Config.AddVendorCapability([0x05, 0x00, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30]);
        MsiX = new MsiXTable(Config, Vectors, 0, (uint)TableOffset, 0, (uint)PbaOffset, sink);
        var bar0 = new PciBarRegion()
            .Add(TableOffset, MsiX.TableSize, MsiX.Table)
            .Add(PbaOffset, MsiX.PbaSize, MsiX.Pba)
            .Add(ScratchOffset, 0x100, new ScratchRegisters(0x100));
        AddBar(0, PciBarKind.Memory32, Bar0Size, bar0);
        AddBar(2, PciBarKind.Memory64, 0x1000, new ScratchRegisters(0x1000), prefetchable: true);
        AddBar(4, PciBarKind.Io, 0x20, new ScratchRegisters(0x20));
    }

    public int VendorCapability { get; }

    public MsiXTable MsiX { get; }

    public List<(int Bar, PciBarMapping? Mapping)> Moves { get; } = [];

    protected override void OnBarMoved(int index, PciBarMapping? mapping) => Moves.Add((index, mapping));
}

/// <summary>The buses a guest sees, with a root bus on them, and the guest's two ways into config space.</summary>
internal sealed class PciTestMachine
{
    public PciTestMachine()
    {
        Root = new PciRootBus(PortIo, Mmio, GsiLine);
    }

    /// <summary>The interrupt controller's lines the root bus wired INTx pins to, by GSI.</summary>
    public Dictionary<int, RecordingInterruptLine> GsiLines { get; } = [];

    public IoBus PortIo { get; } = new("pio");

    public IoBus Mmio { get; } = new("mmio");

    public PciRootBus Root { get; }

    private RecordingInterruptLine GsiLine(int gsi)
    {
        var line = new RecordingInterruptLine();
        GsiLines.Add(gsi, line);
        return line;
    }

    public static uint CamAddress(int bus, int slot, int function, int register) =>
        0x8000_0000u | ((uint)bus << 16) | ((uint)slot << 11) | ((uint)function << 8) | ((uint)register & 0xFC);

    public static ulong EcamAddress(int bus, int slot, int function, int register) =>
        MemoryLayout.PciEcamBase + ((ulong)bus << 20) + ((ulong)slot << 15) + ((ulong)function << 12) + (ulong)register;

    /// <summary>Config read through 0xCF8/0xCFC, <paramref name="width"/> bytes at <paramref name="register"/>.</summary>
    public uint CamRead(int slot, int register, int width = 4, int bus = 0, int function = 0)
    {
        PortWrite32(PciRootBus.ConfigAddressPort, CamAddress(bus, slot, function, register));
        Span<byte> data = stackalloc byte[4];
        PortIo.Read(PciRootBus.ConfigDataPort + (ulong)(register & 3), data[..width]);
        return Value(data[..width]);
    }

    public void CamWrite(int slot, int register, uint value, int width = 4)
    {
        PortWrite32(PciRootBus.ConfigAddressPort, CamAddress(0, slot, 0, register));
        Span<byte> data = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
        PortIo.Write(PciRootBus.ConfigDataPort + (ulong)(register & 3), data[..width]);
    }

    public uint EcamRead(int slot, int register, int width = 4, int bus = 0, int function = 0) =>
        (uint)MmioRead(EcamAddress(bus, slot, function, register), width);

    public void EcamWrite(int slot, int register, uint value, int width = 4) =>
        MmioWrite(EcamAddress(0, slot, 0, register), value, width);

    public ulong MmioRead(ulong address, int width)
    {
        Span<byte> data = stackalloc byte[8];
        Mmio.Read(address, data[..width]);
        return BinaryPrimitives.ReadUInt64LittleEndian(data) & (width == 8 ? ulong.MaxValue : (1UL << (width * 8)) - 1);
    }

    public void MmioWrite(ulong address, ulong value, int width)
    {
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        Mmio.Write(address, data[..width]);
    }

    public void PortWrite32(ulong port, uint value)
    {
        Span<byte> data = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
        PortIo.Write(port, data);
    }

    private static uint Value(ReadOnlySpan<byte> data)
    {
        Span<byte> padded = stackalloc byte[4];
        padded.Clear();
        data.CopyTo(padded);
        return BinaryPrimitives.ReadUInt32LittleEndian(padded);
    }
}
