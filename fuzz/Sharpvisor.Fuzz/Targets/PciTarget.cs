using System.Buffers.Binary;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// PCI config space (PciConfigSpace through PciRootBus: ports 0xCF8/0xCFC and ECAM), BAR moves, MSI-X tables and
/// the virtio-pci transport's registers (common config, ISR, device config, notify, the PCI_CFG window), as a vCPU
/// would reach them. Slot 1 is a virtio-pci function around a stand-in device (no threads); slot 2 a plain function
/// with an MSI-X table of up to 2048 vectors, a 64-bit BAR and an I/O BAR. Input:
/// <code>
/// u8  flags: bits 0-1 the stand-in's queue count - 1; 4 INTx wired to an interrupt controller
/// u16 the stand-in's device config length (mod 4097), u8 MSI-X vectors of slot 2 (8 x (n mod 256) + 1, at most 2048)
/// ops (one byte each plus arguments):
///     0 out 0xCF8 (u32)                       1 out 0xCFC+n (u8 n, u8 width, u32)   2 in 0xCFC+n (u8 n, u8 width)
///     3 ECAM write (u8 slot, u16 register, u8 width, u32)                          4 ECAM read (u8 slot, u16 register, u8 width)
///     5 BAR write (u8 function, u8 BAR, u16 offset, u8 width, u64)                  6 BAR read (u8 function, u8 BAR, u16 offset, u8 width)
///     7 device side: queue interrupt, config interrupt, failure or guest error (u8)  8 slot 2 raises MSI-X vector (u16)
///     9 MMIO write anywhere (u64 address, u8 width, u64)                           10 port write anywhere (u16 port, u8 width, u32)
/// </code>
/// Nothing is expected to throw: a vCPU's register access must never fail. A finding: any exception, the device
/// activated twice without a reset or with a ring its memory does not hold, a device config access outside its
/// length, a doorbell registered twice at one address or unregistered without being registered.
/// </summary>
internal sealed class PciTarget : IFuzzTarget
{
    private const int MaxOps = 512;
    private static readonly int[] Widths = [1, 2, 4, 8];

    private readonly FuzzGuest _guest = new(huge: true);
    private readonly CountingMsiSink _msi = new();

    public string Name => "pci";

    public string Description => "PCI config space (CF8/CFC, ECAM), BAR moves, MSI-X tables, virtio-pci transport registers";

    public bool IsExpected(Exception exception) => false;

    public void Execute(ReadOnlySpan<byte> input)
    {
        var reader = new FuzzReader(input);
        var flags = reader.U8();
        var queues = Enumerable.Range(0, (flags & 3) + 1).Select(q => (ushort)(8 << q)).ToArray();
        var configLength = reader.U16() % 4097;
        var vectors = Math.Min(MsiXTable.MaxVectors, (8 * reader.U8()) + 1);

        var portIo = new IoBus("pio");
        var mmio = new IoBus("mmio");
        var root = new PciRootBus(portIo, mmio, (flags & 4) != 0 ? _ => NullLine.Instance : null);
        var device = new StandInVirtioDevice(queues, configLength, _guest.Memory);
        var registry = new CheckingDoorbellRegistry();
        using var virtio = new VirtioPciDevice(device, _guest.Memory, _msi, registry, _ => { });
        root.AddDevice(virtio, 1);
        var plain = new MsiXFunction(_msi, vectors);
        root.AddDevice(plain, 2);
        PciDevice[] functions = [virtio, plain];

        Span<byte> data = stackalloc byte[8];
        for (var ops = 0; ops < MaxOps && !reader.IsEmpty; ops++)
        {
            switch (reader.U8() % 11)
            {
                case 0:
                    BinaryPrimitives.WriteUInt32LittleEndian(data, reader.U32());
                    portIo.Write(PciRootBus.ConfigAddressPort, data[..4]);
                    break;
                case 1:
                    {
                        var port = PciRootBus.ConfigDataPort + (ulong)(reader.U8() & 3);
                        var width = Widths[reader.U8() % 3];
                        BinaryPrimitives.WriteUInt32LittleEndian(data, reader.U32());
                        portIo.Write(port, data[..width]);
                        break;
                    }

                case 2:
                    {
                        var port = PciRootBus.ConfigDataPort + (ulong)(reader.U8() & 3);
                        portIo.Read(port, data[..Widths[reader.U8() % 3]]);
                        break;
                    }

                case 3:
                    {
                        var address = Ecam(reader.U8(), reader.U16());
                        var width = Widths[reader.U8() % 4];
                        BinaryPrimitives.WriteUInt32LittleEndian(data, reader.U32());
                        mmio.Write(address, data[..width]);
                        break;
                    }

                case 4:
                    mmio.Read(Ecam(reader.U8(), reader.U16()), data[..Widths[reader.U8() % 4]]);
                    break;
                case 5:
                    {
                        var (bus, address) = Bar(functions[reader.U8() & 1], reader.U8(), reader.U16(), portIo, mmio);
                        var width = Widths[reader.U8() % 4];
                        BinaryPrimitives.WriteUInt64LittleEndian(data, reader.U64());
                        bus.Write(address, data[..width]);
                        break;
                    }

                case 6:
                    {
                        var (bus, address) = Bar(functions[reader.U8() & 1], reader.U8(), reader.U16(), portIo, mmio);
                        bus.Read(address, data[..Widths[reader.U8() % 4]]);
                        break;
                    }

                case 7:
                    DeviceEvent(virtio, reader.U8());
                    break;
                case 8:
                    _ = plain.MsiX.Notify(reader.U16() % (vectors + 2));
                    break;
                case 9:
                    {
                        var address = reader.U64();
                        var width = Widths[reader.U8() % 4];
                        BinaryPrimitives.WriteUInt64LittleEndian(data, reader.U64());
                        mmio.Write(address, data[..width]);
                        break;
                    }

                default:
                    {
                        var port = reader.U16();
                        var width = Widths[reader.U8() % 3];
                        BinaryPrimitives.WriteUInt32LittleEndian(data, reader.U32());
                        portIo.Write(port, data[..width]);
                        break;
                    }
            }
        }

        // Whatever the guest did, slot 1 is still the virtio function it was.
        mmio.Read(Ecam(1, 0), data[..4]);
        if (BinaryPrimitives.ReadUInt16LittleEndian(data) != VirtioPciLayout.VendorId)
        {
            throw new Finding($"slot 1's vendor ID reads 0x{BinaryPrimitives.ReadUInt16LittleEndian(data):x4}");
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        // Built from the real layout: where the capabilities and BARs are on a fresh bus.
        var portIo = new IoBus("pio");
        var mmio = new IoBus("mmio");
        var root = new PciRootBus(portIo, mmio);
        using var virtio = new VirtioPciDevice(new StandInVirtioDevice([8, 16], 16, _guest.Memory), _guest.Memory, _msi, new CheckingDoorbellRegistry(), _ => { });
        root.AddDevice(virtio, 1);
        var msixCapability = FindCapability(virtio.Config, PciConfigSpace.CapabilityIdMsiX, 0);
        var pciCfgCapability = FindCapability(virtio.Config, PciConfigSpace.CapabilityIdVendorSpecific, VirtioPciLayout.CapPciConfig);

        // A driver's whole bring-up: size BAR 0, enable memory and MSI-X, negotiate, set up queue 0, DRIVER_OK, notify,
        // take an interrupt, read the ISR and device config, reset.
        var ops = new PciOps();
        ops.EcamWrite(1, PciConfigSpace.BarOffset(0), 4, 0xFFFF_FFFF).EcamRead(1, PciConfigSpace.BarOffset(0), 4)
            .EcamWrite(1, PciConfigSpace.BarOffset(0), 4, (uint)MemoryLayout.PciMmioWindowStart)
            .EcamWrite(1, PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace | PciConfigSpace.CommandBusMaster)
            .EcamWrite(1, msixCapability + 2, 2, 0x8000)
            .BarWrite(0, 0, 0x4000, 8, 0xFEE0_0000).BarWrite(0, 0, 0x4008, 4, 0x41).BarWrite(0, 0, 0x400C, 4, 0)
            .BarWrite(0, 0, 0x14, 1, 1).BarWrite(0, 0, 0x14, 1, 3)
            .BarWrite(0, 0, 0x00, 4, 1).BarRead(0, 0, 0x04, 4)
            .BarWrite(0, 0, 0x08, 4, 1).BarWrite(0, 0, 0x0C, 4, 1).BarWrite(0, 0, 0x14, 1, 0x0B).BarRead(0, 0, 0x14, 1)
            .BarWrite(0, 0, 0x16, 2, 0).BarWrite(0, 0, 0x18, 2, 8).BarWrite(0, 0, 0x1A, 2, 0)
            .BarWrite(0, 0, 0x20, 8, 0).BarWrite(0, 0, 0x28, 4, 0x80).BarWrite(0, 0, 0x2C, 4, 0).BarWrite(0, 0, 0x30, 8, 0x100)
            .BarWrite(0, 0, 0x1C, 2, 1).BarWrite(0, 0, 0x14, 1, 0x0F)
            .BarWrite(0, 0, 0x3000, 2, 0).Event(0).BarRead(0, 0, 0x1000, 1).BarRead(0, 0, 0x2000, 4).BarRead(0, 0, 0x200C, 4)
            .BarWrite(0, 0, 0x14, 1, 0);
        yield return ("virtio-bring-up", new SeedBuilder().U8(1).U16(16).U8(0).Bytes(ops.ToArray()).ToArray());

        // Move BAR 0 while the device runs (its doorbells follow), turn decoding off and on, put it on slot 2's BAR.
        ops = new PciOps();
        ops.BarWrite(0, 0, 0x14, 1, 0x0B).BarWrite(0, 0, 0x1C, 2, 1).BarWrite(0, 0, 0x08, 4, 1).BarWrite(0, 0, 0x0C, 4, 1)
            .BarWrite(0, 0, 0x14, 1, 0x0B).BarWrite(0, 0, 0x14, 1, 0x0F)
            .EcamWrite(1, PciConfigSpace.BarOffset(0), 4, (uint)MemoryLayout.PciMmioWindowStart + 0x10_0000)
            .EcamWrite(1, PciConfigSpace.CommandOffset, 2, 0).EcamWrite(1, PciConfigSpace.CommandOffset, 2, 2)
            .EcamWrite(2, PciConfigSpace.BarOffset(0), 4, (uint)MemoryLayout.PciMmioWindowStart + 0x10_0000)
            .EcamWrite(1, PciConfigSpace.BarOffset(0), 4, 0xFFFF_FFFF).EcamWrite(1, PciConfigSpace.BarOffset(0), 4, 0xFFFF_8000)
            .BarWrite(0, 0, 0x14, 1, 0);
        yield return ("bar-moves", new SeedBuilder().U8(4).U16(0).U8(1).Bytes(ops.ToArray()).ToArray());

        // The PCI_CFG window into BAR 0 (bar, offset, length, data), through the legacy ports byte by byte.
        ops = new PciOps();
        var cap = pciCfgCapability;
        ops.Cam(1, cap + 4).Out(0, 1, 0).Cam(1, cap + 8).Out(0, 4, 0x14).Cam(1, cap + 12).Out(0, 4, 1)
            .Cam(1, cap + 16).Out(0, 1, 0x03).In(0, 1).In(2, 2).In(3, 1)
            .Cam(1, cap + 8).Out(0, 4, 0x4000).Cam(1, cap + 12).Out(0, 4, 4).Cam(1, cap + 16).Out(0, 4, 0xFEE0_0000).In(0, 4)
            .Cam(1, cap + 12).Out(0, 4, 3).Cam(1, cap + 16).In(0, 4);
        yield return ("pci-cfg-window", new SeedBuilder().U8(0).U16(4096).U8(0).Bytes(ops.ToArray()).ToArray());

        // Slot 2's MSI-X: enable with the function masked, program and unmask vectors, raise them, read the PBA.
        var plain = new MsiXFunction(_msi, 17);
        root.AddDevice(plain, 2);
        var plainMsix = FindCapability(plain.Config, PciConfigSpace.CapabilityIdMsiX, 0);
        ops = new PciOps();
        ops.EcamWrite(2, plainMsix + 2, 2, 0xC000).BarWrite(1, 0, 0, 8, 0xFEE0_1000).BarWrite(1, 0, 8, 4, 0x30)
            .BarWrite(1, 0, 12, 4, 0).BarWrite(1, 0, 0x100, 8, 0xFEE0_0000).BarWrite(1, 0, 0x10C, 4, 0)
            .Notify(0).Notify(16).Notify(17).BarRead(1, 0, MsiXFunction.PbaOffset, 8).EcamWrite(2, plainMsix + 2, 2, 0x8000)
            .BarWrite(1, 0, 12, 4, 1).Notify(0).BarWrite(1, 0, 12, 4, 0).BarRead(1, 0, MsiXFunction.PbaOffset + 4, 4)
            .BarWrite(1, 2, 0x10, 8, 0x1234).BarRead(1, 4, 2, 2).EcamWrite(2, PciConfigSpace.BarOffset(2), 4, 0xFFFF_FFFF)
            .EcamWrite(2, PciConfigSpace.BarOffset(3), 4, 0xFFFF_FFFF).EcamRead(2, PciConfigSpace.BarOffset(3), 4);
        yield return ("msix-function", new SeedBuilder().U8(3).U16(0).U8(2).Bytes(ops.ToArray()).ToArray());
    }

    private static ulong Ecam(byte slot, ushort register) =>
        MemoryLayout.PciEcamBase + ((ulong)(slot % 4) << 15) + (ulong)(register & 0xFFF);

    /// <summary>An address inside BAR <paramref name="bar"/> as it is placed now (I/O or memory), whether or not it decodes.</summary>
    private static (IoBus Bus, ulong Address) Bar(PciDevice function, byte bar, ushort offset, IoBus portIo, IoBus mmio)
    {
        var index = bar % PciConfigSpace.BarCount;
        var info = function.Config.Bars[index];
        var address = function.Config.BarAddress(index) + (info.Size == 0 ? offset : offset % info.Size);
        return (info.Kind == PciBarKind.Io ? portIo : mmio, address);
    }

    private static void DeviceEvent(VirtioPciDevice virtio, byte what)
    {
        switch (what % 4)
        {
            case 0:
                virtio.SignalQueue(what / 4 % 8);
                break;
            case 1:
                virtio.SignalConfigChange();
                break;
            case 2:
                virtio.Fail("fuzz: the device gave up");
                break;
            default:
                virtio.GuestError("fuzz: a request was refused");
                break;
        }
    }

    private static int FindCapability(PciConfigSpace config, byte id, byte virtioType)
    {
        for (int at = config.ReadU8(PciConfigSpace.CapabilitiesPointerOffset), hops = 0; at != 0 && hops < 48; at = config.ReadU8(at + 1), hops++)
        {
            if (config.ReadU8(at) == id && (id != PciConfigSpace.CapabilityIdVendorSpecific || config.ReadU8(at + 3) == virtioType))
            {
                return at;
            }
        }

        throw new InvalidOperationException($"capability 0x{id:x2} not found");
    }

    /// <summary>Writes the ops above (for seeds).</summary>
    private sealed class PciOps
    {
        private readonly SeedBuilder _ops = new();

        public PciOps Cam(int slot, int register) => Op(0, o => o.U32(0x8000_0000u | ((uint)slot << 11) | ((uint)register & 0xFC)));

        public PciOps Out(int port, int width, uint value) => Op(1, o => o.U8(port).U8(WidthIndex(width)).U32(value));

        public PciOps In(int port, int width) => Op(2, o => o.U8(port).U8(WidthIndex(width)));

        public PciOps EcamWrite(int slot, int register, int width, uint value) => Op(3, o => o.U8(slot).U16(register).U8(WidthIndex(width)).U32(value));

        public PciOps EcamRead(int slot, int register, int width) => Op(4, o => o.U8(slot).U16(register).U8(WidthIndex(width)));

        public PciOps BarWrite(int function, int bar, ulong offset, int width, ulong value) => Op(5, o => o.U8(function).U8(bar).U16((int)offset).U8(WidthIndex(width)).U64(value));

        public PciOps BarRead(int function, int bar, ulong offset, int width) => Op(6, o => o.U8(function).U8(bar).U16((int)offset).U8(WidthIndex(width)));

        public PciOps Event(int what) => Op(7, o => o.U8(what));

        public PciOps Notify(int vector) => Op(8, o => o.U16(vector));

        public byte[] ToArray() => _ops.ToArray();

        private static int WidthIndex(int width) => Array.IndexOf(Widths, width);

        private PciOps Op(int code, Action<SeedBuilder> arguments)
        {
            _ops.U8(code);
            arguments(_ops);
            return this;
        }
    }
}

/// <summary>
/// The device behind the transport, without threads: it checks what the transport promises it (activation only
/// after a reset, rings inside RAM, config accesses inside its length).
/// </summary>
internal sealed class StandInVirtioDevice(ushort[] queueMaxSizes, int configLength, GuestMemory memory) : IVirtioDevice
{
    private bool _active;

    public VirtioDeviceType Type => VirtioDeviceType.Block;

    public string Kind => "stand-in";

    public ulong DeviceFeatures => (1UL << 5) | (1UL << 9);

    public IReadOnlyList<ushort> QueueMaxSizes => queueMaxSizes;

    public int ConfigLength => configLength;

    public void ReadConfig(int offset, Span<byte> data)
    {
        CheckConfigAccess(offset, data.Length);
        data.Fill(0x5A);
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data) => CheckConfigAccess(offset, data.Length);

    public void Activate(VirtioActivation activation)
    {
        if (_active)
        {
            throw new Finding("the transport activated the device twice without a reset");
        }

        _active = true;
        if (activation.Queues.Count != queueMaxSizes.Length)
        {
            throw new Finding($"activated with {activation.Queues.Count} queues, the device has {queueMaxSizes.Length}");
        }

        for (var q = 0; q < activation.Queues.Count; q++)
        {
            if (activation.Queues[q] is not { } queue)
            {
                continue;
            }

            if (queue.Ring.Size > queueMaxSizes[q] || SplitVirtqueue.Validate(memory, queue.Ring.Config) is { } error)
            {
                throw new Finding($"queue {q} activated with size {queue.Ring.Size} (max {queueMaxSizes[q]}) and settings {queue.Ring.Config}");
            }
        }
    }

    public bool Reset()
    {
        _active = false;
        return true;
    }

    public void Dispose()
    {
    }

    private void CheckConfigAccess(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > configLength - length)
        {
            throw new Finding($"device config access of {length} bytes at {offset}, outside its {configLength} bytes");
        }
    }
}

/// <summary>Stands in for KVM's ioeventfd table, which refuses a second doorbell at one address and an unknown removal.</summary>
internal sealed class CheckingDoorbellRegistry : IDoorbellRegistry
{
    private readonly Dictionary<ulong, (EventFd Doorbell, uint Length)> _registered = [];

    public void Register(EventFd doorbell, ulong address, uint length)
    {
        if (!_registered.TryAdd(address, (doorbell, length)))
        {
            throw new Finding($"a second doorbell registered at 0x{address:x}");
        }
    }

    public void Unregister(EventFd doorbell, ulong address, uint length)
    {
        if (!_registered.TryGetValue(address, out var found) || found.Doorbell != doorbell || found.Length != length)
        {
            throw new Finding($"a doorbell unregistered at 0x{address:x} that is not registered there");
        }

        _registered.Remove(address);
    }
}

/// <summary>Slot 2: BAR 0 holds an MSI-X table and PBA, BAR 2 is 64-bit memory, BAR 4 I/O.</summary>
internal sealed class MsiXFunction : PciDevice
{
    public const uint PbaOffset = 0x8000;

    public MsiXFunction(IMsiSink sink, int vectors)
        : base(new PciConfigSpace(0x1234, 0x11E9, 0x05_80_00, interruptPin: 2))
    {
        MsiX = new MsiXTable(Config, vectors, 0, 0, 0, PbaOffset, sink);
        AddBar(0, PciBarKind.Memory32, 0x1_0000, new PciBarRegion().Add(0, MsiX.TableSize, MsiX.Table).Add(PbaOffset, MsiX.PbaSize, MsiX.Pba));
        AddBar(2, PciBarKind.Memory64, 0x1000, new PciBarRegion(), prefetchable: true);
        AddBar(4, PciBarKind.Io, 0x20, new PciBarRegion());
    }

    public MsiXTable MsiX { get; }
}

internal sealed class CountingMsiSink : IMsiSink
{
    public long Messages { get; private set; }

    public void SignalMsi(ulong address, uint data) => Messages++;

    public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes)
    {
    }
}

internal sealed class NullLine : IInterruptLine
{
    public static NullLine Instance { get; } = new();

    public void SetLevel(bool asserted)
    {
    }
}
