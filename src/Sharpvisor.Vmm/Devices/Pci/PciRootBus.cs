using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// PCI bus 0: up to 32 single-function devices by slot, the host bridge in slot 0. The guest reaches config
/// space two ways, with identical results: the legacy mechanism #1 ports (address at 0xCF8, data at
/// 0xCFC-0xCFF) and the ECAM window in the MMIO hole (<see cref="MemoryLayout.PciEcamBase"/>, bus 0 only).
/// The VMM places every BAR when a device is added (memory BARs in <see cref="MemoryLayout.PciMmioWindowStart"/>
/// onwards, I/O BARs from <see cref="IoWindowStart"/>) and turns decoding on, as firmware would; when the guest
/// later moves a BAR or toggles decoding, the range moves on the I/O or MMIO bus with it.
/// Absent devices, other buses and functions 1-7 read as all ones. Config accesses are serialised by one lock.
/// A function with an interrupt pin is wired, when it is added, to the I/O APIC pin <see cref="PciInterruptRouting"/>
/// names (shared lines are ORed), and its interrupt line register says which, as firmware would leave it.
/// </summary>
public sealed class PciRootBus
{
    public const ushort ConfigAddressPort = 0xCF8;
    public const ushort ConfigDataPort = 0xCFC;
    public const int SlotCount = 32;
    public const int HostBridgeSlot = 0;

    /// <summary>I/O BARs go in [0xC000, 0x10000), the top quarter of port space, clear of every legacy port.</summary>
    public const ulong IoWindowStart = 0xC000;
    public const ulong IoWindowEnd = 0x1_0000;

    private const uint ConfigAddressEnable = 1u << 31;

    private readonly Lock _lock = new();
    private readonly IoBus _portIo;
    private readonly IoBus _mmio;
    private readonly PciDevice?[] _slots = new PciDevice?[SlotCount];
    private readonly Dictionary<(int Slot, int Bar), PciBarMapping> _claimed = [];
    private readonly Func<int, IInterruptLine>? _gsiLine;
    private readonly Dictionary<int, SharedLevelLine> _intxLines = [];
    private uint _configAddress;
    private ulong _nextMmio = MemoryLayout.PciMmioWindowStart;
    private ulong _nextIo = IoWindowStart;

    /// <summary>
    /// Claims the config ports on <paramref name="portIo"/> and the ECAM window on <paramref name="mmio"/>, and adds the
    /// host bridge. <paramref name="gsiLine"/> gives the interrupt controller's line for a GSI; without it INTx is not wired.
    /// </summary>
    public PciRootBus(IoBus portIo, IoBus mmio, Func<int, IInterruptLine>? gsiLine = null)
    {
        ArgumentNullException.ThrowIfNull(portIo);
        ArgumentNullException.ThrowIfNull(mmio);
        _portIo = portIo;
        _mmio = mmio;
        _gsiLine = gsiLine;

        // 0xCF8 is claimed as a dword so a 32-bit access lands here; narrower accesses to it, and 0xCF9-0xCFB, are
        // not the config address (PCI 3.0, 3.2.2.3.2) and are ignored.
        portIo.Register(ConfigAddressPort, 4, new AddressPort(this));
        portIo.Register(ConfigDataPort, 4, new DataPort(this));
        mmio.Register(MemoryLayout.PciEcamBase, MemoryLayout.PciEcamSize, new Ecam(this));
        AddDevice(new PciHostBridge(), HostBridgeSlot);
    }

    public PciDevice? DeviceAt(int slot) => (uint)slot < SlotCount ? _slots[slot] : null;

    /// <summary>Adds <paramref name="device"/> in the lowest free slot and returns the slot.</summary>
    public int AddDevice(PciDevice device)
    {
        var slot = Array.IndexOf(_slots, null);
        if (slot < 0)
        {
            throw new InvalidOperationException("all 32 slots of PCI bus 0 are taken");
        }

        AddDevice(device, slot);
        return slot;
    }

    /// <summary>Adds <paramref name="device"/> in <paramref name="slot"/>, places its BARs and enables their decoding.</summary>
    public void AddDevice(PciDevice device, int slot)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, SlotCount);
        lock (_lock)
        {
            if (_slots[slot] is not null)
            {
                throw new InvalidOperationException($"PCI slot {slot} is taken");
            }

            ushort command = 0;
            foreach (var bar in device.Config.Bars.Where(b => b.Kind != PciBarKind.None))
            {
                if (bar.Kind == PciBarKind.Io)
                {
                    device.Config.SetBarAddress(bar.Index, Allocate(ref _nextIo, bar.Size, IoWindowEnd, "I/O"));
                    command |= PciConfigSpace.CommandIoSpace;
                }
                else
                {
                    var windowEnd = MemoryLayout.PciMmioWindowStart + MemoryLayout.PciMmioWindowSize;
                    device.Config.SetBarAddress(bar.Index, Allocate(ref _nextMmio, bar.Size, windowEnd, "MMIO"));
                    command |= PciConfigSpace.CommandMemorySpace;
                }
            }

            device.Config.SetU16(PciConfigSpace.CommandOffset, (ushort)(device.Config.Command | command));
            _slots[slot] = device;
            device.Attach(this, slot);
            ConnectInterrupt(device, slot);
            SyncBars(slot);
        }
    }

    private void ConnectInterrupt(PciDevice device, int slot)
    {
        var pin = device.Config.ReadU8(PciConfigSpace.InterruptPinOffset);
        if (_gsiLine is null || pin == 0)
        {
            return;
        }

        var gsi = PciInterruptRouting.Gsi(slot, pin);
        if (!_intxLines.TryGetValue(gsi, out var line))
        {
            line = new SharedLevelLine(_gsiLine(gsi));
            _intxLines.Add(gsi, line);
        }

        device.Config.SetU8(PciConfigSpace.InterruptLineOffset, (byte)gsi);
        device.ConnectInterruptLine(line.AddSource());
    }

    private static ulong Allocate(ref ulong next, ulong size, ulong end, string space)
    {
        var address = (next + size - 1) & ~(size - 1);
        if (address < next || address + size > end)
        {
            throw new InvalidOperationException($"the PCI {space} window has no room for a 0x{size:x}-byte BAR");
        }

        next = address + size;
        return address;
    }

    /// <summary>Reads config space; <paramref name="data"/> must stay within one dword of <paramref name="register"/>.</summary>
    private void ReadConfig(int bus, int slot, int function, int register, Span<byte> data)
    {
        lock (_lock)
        {
            if (Target(bus, slot, function) is { } device)
            {
                device.ReadConfig(register, data);
            }
            else
            {
                data.Fill(0xFF);
            }
        }
    }

    private void WriteConfig(int bus, int slot, int function, int register, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (Target(bus, slot, function) is { } device)
            {
                device.WriteConfig(register, data);
                SyncBars(slot);
            }
        }
    }

    /// <summary>Runs <paramref name="replace"/> (a restore of <paramref name="slot"/>'s config space) under the config lock, then re-syncs its BARs.</summary>
    internal void Reconfigure(int slot, Action replace)
    {
        lock (_lock)
        {
            replace();
            SyncBars(slot);
        }
    }

    private PciDevice? Target(int bus, int slot, int function) =>
        bus == 0 && function == 0 && (uint)slot < SlotCount ? _slots[slot] : null;

    /// <summary>Moves the bus claims of <paramref name="slot"/>'s BARs to where they decode now.</summary>
    private void SyncBars(int slot)
    {
        var device = _slots[slot]!;
        var wanted = device.DecodedBars().ToDictionary(m => m.Index);
        var changed = new List<int>();

        // Release first, so two BARs swapping addresses can both be claimed again.
        for (var bar = 0; bar < PciConfigSpace.BarCount; bar++)
        {
            if (_claimed.TryGetValue((slot, bar), out var old)
                && !(wanted.TryGetValue(bar, out var now) && now.Address == old.Address))
            {
                (old.IsIo ? _portIo : _mmio).Unregister(old.Address, old.Handler);
                _claimed.Remove((slot, bar));
                changed.Add(bar);
            }
        }

        foreach (var (bar, mapping) in wanted)
        {
            if (_claimed.ContainsKey((slot, bar)))
            {
                continue;
            }

            // A guest may point a BAR anywhere, over another device or half off the address space: such a BAR
            // claims nothing until it is moved somewhere sensible.
            if ((mapping.IsIo ? _portIo : _mmio).TryRegister(mapping.Address, mapping.Size, mapping.Handler))
            {
                _claimed[(slot, bar)] = mapping;
                if (!changed.Contains(bar))
                {
                    changed.Add(bar);
                }
            }
        }

        foreach (var bar in changed)
        {
            device.NotifyBarMoved(bar, _claimed.TryGetValue((slot, bar), out var m) ? m : null);
        }
    }

    /// <summary>The config address register: only whole-dword accesses at 0xCF8 reach it.</summary>
    private sealed class AddressPort(PciRootBus root) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            if (offset == 0 && data.Length == 4)
            {
                lock (root._lock)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(data, root._configAddress);
                }
            }
            else
            {
                data.Fill(0xFF);
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (offset == 0 && data.Length == 4)
            {
                lock (root._lock)
                {
                    // Bits 30:24 are reserved and 1:0 must read back as zero.
                    root._configAddress = BinaryPrimitives.ReadUInt32LittleEndian(data) & 0x80FF_FFFCu;
                }
            }
        }
    }

    /// <summary>
    /// 0xCFC-0xCFF: a window onto the dword the address register selects; an access at 0xCFC+n reaches byte n of it.
    /// </summary>
    private sealed class DataPort(PciRootBus root) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            if (Decode(out var bus, out var slot, out var function, out var register))
            {
                root.ReadConfig(bus, slot, function, register + (int)offset, data);
            }
            else
            {
                data.Fill(0xFF);
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (Decode(out var bus, out var slot, out var function, out var register))
            {
                root.WriteConfig(bus, slot, function, register + (int)offset, data);
            }
        }

        private bool Decode(out int bus, out int slot, out int function, out int register)
        {
            uint address;
            lock (root._lock)
            {
                address = root._configAddress;
            }

            bus = (int)(address >> 16) & 0xFF;
            slot = (int)(address >> 11) & 0x1F;
            function = (int)(address >> 8) & 0x7;
            register = (int)address & 0xFC;
            return (address & ConfigAddressEnable) != 0;
        }
    }

    /// <summary>
    /// ECAM: offset = bus &lt;&lt; 20 | device &lt;&lt; 15 | function &lt;&lt; 12 | register. Accesses of 1, 2 or 4 bytes that
    /// stay inside one dword are config accesses; anything else reads all ones and is dropped.
    /// </summary>
    private sealed class Ecam(PciRootBus root) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            if (Decode(offset, data.Length, out var bus, out var slot, out var function, out var register))
            {
                root.ReadConfig(bus, slot, function, register, data);
            }
            else
            {
                data.Fill(0xFF);
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (Decode(offset, data.Length, out var bus, out var slot, out var function, out var register))
            {
                root.WriteConfig(bus, slot, function, register, data);
            }
        }

        private static bool Decode(ulong offset, int length, out int bus, out int slot, out int function, out int register)
        {
            bus = (int)(offset >> 20) & 0xFF;
            slot = (int)(offset >> 15) & 0x1F;
            function = (int)(offset >> 12) & 0x7;
            register = (int)(offset & 0xFFF);
            return length is 1 or 2 or 4 && (offset % 4) + (ulong)length <= 4;
        }
    }
}
