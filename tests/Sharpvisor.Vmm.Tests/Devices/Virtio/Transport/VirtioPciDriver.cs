using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Tests.Devices.Pci;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

/// <summary>Stands in for KVM's ioeventfd table: remembers which doorbell is registered at which address.</summary>
internal sealed class RecordingDoorbellRegistry : IDoorbellRegistry
{
    private readonly List<(EventFd Doorbell, ulong Address, uint Length)> _registered = [];

    public int Unregistrations { get; private set; }

    public IReadOnlyList<(EventFd Doorbell, ulong Address, uint Length)> Registered
    {
        get
        {
            lock (_registered)
            {
                return [.. _registered.OrderBy(r => r.Address)];
            }
        }
    }

    public void Register(EventFd doorbell, ulong address, uint length)
    {
        lock (_registered)
        {
            Assert.DoesNotContain(_registered, r => r.Address == address);
            _registered.Add((doorbell, address, length));
        }
    }

    public void Unregister(EventFd doorbell, ulong address, uint length)
    {
        lock (_registered)
        {
            Assert.Equal(1, _registered.RemoveAll(r => r.Doorbell == doorbell && r.Address == address && r.Length == length));
            Unregistrations++;
        }
    }
}

/// <summary>One virtio_pci_cap as the driver finds it in config space.</summary>
internal readonly record struct VirtioCap(int At, byte CapLength, byte Type, byte Bar, uint Offset, uint Length, uint NotifyMultiplier);

/// <summary>
/// The guest's virtio-pci driver, written from the spec's driver side: it finds the vendor capabilities by walking
/// config space (ECAM through a <see cref="PciRootBus"/>), reaches the structures at BAR 0's current address on the
/// MMIO bus, negotiates features, lays out rings with <see cref="MockDriver"/> (queue q at 0x10000 * q), programs
/// MSI-X (vector v sends data <see cref="MsiDataBase"/> + v) and rings doorbells with notify writes. Owns RAM, the
/// buses, an MSI recorder, a doorbell registry and the log, and disposes the transport (and so the device) first.
/// </summary>
internal sealed class VirtioPciDriver : IDisposable
{
    public const ulong RamSize = 4 << 20;
    public const ulong DataBase = 0x10_0000;
    public const uint MsiAddress = 0xFEE0_0000;
    public const uint MsiDataBase = 0x40;

    public const int DeviceFeatureSelect = 0x00;
    public const int DeviceFeature = 0x04;
    public const int DriverFeatureSelect = 0x08;
    public const int DriverFeature = 0x0C;
    public const int ConfigMsixVector = 0x10;
    public const int NumQueues = 0x12;
    public const int DeviceStatus = 0x14;
    public const int QueueSelect = 0x16;
    public const int QueueSize = 0x18;
    public const int QueueMsixVector = 0x1A;
    public const int QueueEnable = 0x1C;
    public const int QueueNotifyOff = 0x1E;
    public const int QueueDesc = 0x20;
    public const int QueueDriver = 0x28;
    public const int QueueDevice = 0x30;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    private readonly List<string> _log = [];
    private readonly Dictionary<int, ulong> _notifyOffsets = [];
    private ulong _nextBuffer = DataBase;

    public VirtioPciDriver(IVirtioDevice device, GuestMemory? memory = null, string backend = "")
    {
        Memory = memory ?? GuestMemory.Create([(new GuestAddress(0), RamSize)]);
        Transport = new VirtioPciDevice(device, Memory, Msi, Doorbells, AddLog) { Backend = backend };
        Slot = Machine.Root.AddDevice(Transport);
        EnableBusMaster(true); // as every driver does first (Linux's pci_set_master): DMA and MSIs need it
        Caps = FindCapabilities();
        Queues = new MockDriver?[device.QueueMaxSizes.Count];
    }

    public PciTestMachine Machine { get; } = new();

    public RecordingMsiSink Msi { get; } = new();

    public RecordingDoorbellRegistry Doorbells { get; } = new();

    public GuestMemory Memory { get; }

    public VirtioPciDevice Transport { get; }

    public int Slot { get; }

    /// <summary>Every capability in the list: (config offset, capability ID).</summary>
    public IReadOnlyList<(int At, byte Id)> CapabilityList { get; private set; } = [];

    public IReadOnlyList<VirtioCap> Caps { get; }

    public MockDriver?[] Queues { get; }

    public int MsiXCapability => CapabilityList.Single(c => c.Id == PciConfigSpace.CapabilityIdMsiX).At;

    public ulong Bar0 => ConfigRead(PciConfigSpace.BarOffset(0)) & ~0xFUL;

    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    public VirtioStatus Status
    {
        get => (VirtioStatus)Common(DeviceStatus, 1);
        set => SetCommon(DeviceStatus, (byte)value, 1);
    }

    public ulong OfferedFeatures
    {
        get
        {
            SetCommon(DeviceFeatureSelect, 0, 4);
            var low = Common(DeviceFeature, 4);
            SetCommon(DeviceFeatureSelect, 1, 4);
            return low | (Common(DeviceFeature, 4) << 32);
        }
    }

    public ulong DriverFeatures
    {
        get
        {
            SetCommon(DriverFeatureSelect, 0, 4);
            var low = Common(DriverFeature, 4);
            SetCommon(DriverFeatureSelect, 1, 4);
            return low | (Common(DriverFeature, 4) << 32);
        }

        set
        {
            SetCommon(DriverFeatureSelect, 0, 4);
            SetCommon(DriverFeature, (uint)value, 4);
            SetCommon(DriverFeatureSelect, 1, 4);
            SetCommon(DriverFeature, value >> 32, 4);
        }
    }

    public static uint MsiData(int vector) => MsiDataBase + (uint)vector;

    /// <summary>
    /// The guest as a snapshot's destination sees it: a copy of this RAM and of each queue's driver bookkeeping, and a
    /// fresh function of <paramref name="device"/> in the same slot of a new machine (its BAR where this one's was
    /// placed). Nothing is restored into it yet.
    /// </summary>
    public VirtioPciDriver CopyGuestTo(IVirtioDevice device)
    {
        var memory = GuestMemory.Create(Memory.Regions.Select(r => (r.Start, r.Size)));
        foreach (var region in Memory.Regions)
        {
            Memory.GetSpan(region.Start, (int)region.Size).CopyTo(memory.GetSpan(region.Start, (int)region.Size));
        }

        var copy = new VirtioPciDriver(device, memory) { _nextBuffer = _nextBuffer };
        Assert.Equal(Slot, copy.Slot);
        for (var q = 0; q < Queues.Length; q++)
        {
            copy.Queues[q] = Queues[q]?.CopyTo(memory);
        }

        foreach (var (q, offset) in _notifyOffsets)
        {
            copy._notifyOffsets[q] = offset;
        }

        return copy;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing the test after 5 s.</summary>
    public static void WaitUntil(Func<bool> condition, string what)
    {
        var start = DateTime.UtcNow;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow - start < Deadline, $"timed out waiting for {what}");
            Thread.Sleep(1);
        }
    }

    public uint ConfigRead(int register, int width = 4) => Machine.EcamRead(Slot, register, width);

    public void ConfigWrite(int register, uint value, int width = 4) => Machine.EcamWrite(Slot, register, value, width);

    /// <summary>Sets or clears the command register's Bus Master bit.</summary>
    public void EnableBusMaster(bool on)
    {
        var command = (uint)ConfigRead(PciConfigSpace.CommandOffset, 2);
        ConfigWrite(PciConfigSpace.CommandOffset, on ? command | PciConfigSpace.CommandBusMaster : command & ~(uint)PciConfigSpace.CommandBusMaster, 2);
    }

    public VirtioCap Cap(byte type) => Caps.Single(c => c.Type == type);

    public ulong BarRead(ulong offset, int width) => Machine.MmioRead(Bar0 + offset, width);

    public void BarWrite(ulong offset, ulong value, int width) => Machine.MmioWrite(Bar0 + offset, value, width);

    public ulong Common(int offset, int width) => BarRead(Cap(VirtioPciLayout.CapCommon).Offset + (ulong)offset, width);

    public void SetCommon(int offset, ulong value, int width) => BarWrite(Cap(VirtioPciLayout.CapCommon).Offset + (ulong)offset, value, width);

    public ulong DeviceConfig(int offset, int width) => BarRead(Cap(VirtioPciLayout.CapDevice).Offset + (ulong)offset, width);

    public byte ReadIsr() => (byte)BarRead(Cap(VirtioPciLayout.CapIsr).Offset, 1);

    public void AddStatus(VirtioStatus bits) => Status |= bits;

    /// <summary>Reset, ACKNOWLEDGE, DRIVER, the feature bits, FEATURES_OK; true when the device kept FEATURES_OK.</summary>
    public bool Negotiate(ulong features)
    {
        Status = VirtioStatus.None;
        AddStatus(VirtioStatus.Acknowledge);
        AddStatus(VirtioStatus.Driver);
        DriverFeatures = features;
        AddStatus(VirtioStatus.FeaturesOk);
        return Status.HasFlag(VirtioStatus.FeaturesOk);
    }

    /// <summary>Enables MSI-X and programs and unmasks every vector of the table.</summary>
    public void EnableMsiX()
    {
        var table = ConfigRead(MsiXCapability + 4);
        Assert.Equal((uint)VirtioPciLayout.Bar, table & 7);
        var vectors = (int)(ConfigRead(MsiXCapability + 2, 2) & 0x7FF) + 1;
        for (var v = 0; v < vectors; v++)
        {
            var entry = (table & ~7u) + (ulong)(16 * v);
            BarWrite(entry, MsiAddress, 4);
            BarWrite(entry + 4, 0, 4);
            BarWrite(entry + 8, MsiData(v), 4);
            BarWrite(entry + 12, 0, 4);
        }

        ConfigWrite(MsiXCapability + 2, 0x8000, 2);
    }

    public int MsiCount(int vector)
    {
        lock (Msi.Messages)
        {
            return Msi.Messages.Count(m => m.Address == MsiAddress && m.Data == MsiData(vector));
        }
    }

    /// <summary>Selects queue <paramref name="q"/>, lays out its rings (at <paramref name="ringBase"/> + 0x1000 ...), writes its registers (addresses as two dwords, as Linux does) and enables it.</summary>
    public MockDriver SetupQueue(int q, ushort size, ulong features, ushort vector, ulong? ringBase = null)
    {
        var driver = new MockDriver(Memory, size, features, ringBase: ringBase ?? (0x10000UL * (ulong)q));
        SetupQueue(q, size, driver.Config.DescriptorTable.Value, driver.Config.AvailableRing.Value, driver.Config.UsedRing.Value, vector);
        Queues[q] = driver;
        return driver;
    }

    public void SetupQueue(int q, ushort size, ulong descriptors, ulong driverArea, ulong deviceArea, ushort vector)
    {
        SetCommon(QueueSelect, (ulong)q, 2);
        SetCommon(QueueSize, size, 2);
        SetCommon(QueueMsixVector, vector, 2);
        foreach (var (register, address) in new[] { (QueueDesc, descriptors), (QueueDriver, driverArea), (QueueDevice, deviceArea) })
        {
            SetCommon(register, (uint)address, 4);
            SetCommon(register + 4, address >> 32, 4);
        }

        _notifyOffsets[q] = Common(QueueNotifyOff, 2) * Cap(VirtioPciLayout.CapNotify).NotifyMultiplier;
        SetCommon(QueueEnable, 1, 2);
    }

    /// <summary>
    /// The whole bring-up: features (all offered, or <paramref name="features"/>), MSI-X with queue q on vector q and
    /// config changes on the vector after the queues, every queue of <paramref name="queueSize"/>, DRIVER_OK. Without
    /// <paramref name="msix"/> MSI-X stays off and no vectors are set: the device interrupts through INTA, as for a
    /// kernel without MSI.
    /// </summary>
    public void Start(ulong? features = null, ushort queueSize = 16, bool msix = true)
    {
        var accepted = features ?? OfferedFeatures;
        Assert.True(Negotiate(accepted), "FEATURES_OK was refused");
        if (msix)
        {
            EnableMsiX();
            SetCommon(ConfigMsixVector, (ulong)Queues.Length, 2);
        }

        for (var q = 0; q < Queues.Length; q++)
        {
            SetupQueue(q, queueSize, accepted, msix ? (ushort)q : VirtioPciLayout.NoVector);
        }

        AddStatus(VirtioStatus.DriverOk);
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk, Status);
    }

    /// <summary>A notify write for queue <paramref name="q"/>: the 16-bit queue index at its notify address.</summary>
    public void Notify(int q) => BarWrite(Cap(VirtioPciLayout.CapNotify).Offset + NotifyOffset(q), (ulong)q, 2);

    public ulong NotifyOffset(int q) => _notifyOffsets.TryGetValue(q, out var offset) ? offset : (ulong)q * VirtioPciLayout.NotifyOffMultiplier;

    /// <summary>Publishes what was added to queue <paramref name="q"/> and rings its doorbell.</summary>
    public void Kick(int q)
    {
        Queues[q]!.Kick();
        Notify(q);
    }

    /// <summary>Waits until queue <paramref name="q"/>'s used index reaches <paramref name="usedIndex"/> and returns the new used elements.</summary>
    public List<(uint Id, uint Length)> WaitForUsed(int q, ushort usedIndex)
    {
        WaitUntil(() => Queues[q]!.UsedIndex == usedIndex, $"queue {q} used index {usedIndex}");
        return Queues[q]!.TakeUsed();
    }

    public void WaitForMsi(int vector, int count) => WaitUntil(() => MsiCount(vector) >= count, $"{count} MSI(s) on vector {vector}");

    public void WaitForNeedsReset() => WaitUntil(() => Status.HasFlag(VirtioStatus.NeedsReset), "NEEDS_RESET");

    /// <summary>Hands out a 16-byte aligned guest buffer above the rings, filled with <paramref name="fill"/>.</summary>
    public ulong Allocate(int length, byte fill = 0)
    {
        var address = _nextBuffer;
        _nextBuffer = (_nextBuffer + (ulong)length + 15) & ~15UL;
        Assert.True(_nextBuffer <= RamSize, "test RAM exhausted");
        Memory.GetSpan(new GuestAddress(address), length).Fill(fill);
        return address;
    }

    public ulong Allocate(ReadOnlySpan<byte> contents)
    {
        var address = Allocate(contents.Length);
        Memory.Write(new GuestAddress(address), contents);
        return address;
    }

    public byte[] ReadGuest(ulong address, int length) => Memory.GetSpan(new GuestAddress(address), length).ToArray();

    public void Dispose()
    {
        Transport.Dispose();
        Memory.Dispose();
    }

    private void AddLog(string message)
    {
        lock (_log)
        {
            _log.Add(message);
        }
    }

    private List<VirtioCap> FindCapabilities()
    {
        Assert.NotEqual(0u, ConfigRead(PciConfigSpace.StatusOffset, 2) & PciConfigSpace.StatusCapabilitiesList);
        var list = new List<(int At, byte Id)>();
        var caps = new List<VirtioCap>();
        for (var at = (int)ConfigRead(PciConfigSpace.CapabilitiesPointerOffset, 1); at != 0; at = (int)ConfigRead(at + 1, 1))
        {
            Assert.True(list.Count < 48 && at >= 0x40 && at % 4 == 0, $"bad capability pointer 0x{at:x}");
            var id = (byte)ConfigRead(at, 1);
            list.Add((at, id));
            if (id == PciConfigSpace.CapabilityIdVendorSpecific)
            {
                var length = (byte)ConfigRead(at + 2, 1);
                var type = (byte)ConfigRead(at + 3, 1);
                caps.Add(new VirtioCap(
                    at,
                    length,
                    type,
                    (byte)ConfigRead(at + 4, 1),
                    ConfigRead(at + 8),
                    ConfigRead(at + 12),
                    type == VirtioPciLayout.CapNotify ? ConfigRead(at + 16) : 0));
            }
        }

        CapabilityList = list;
        return caps;
    }
}
