using System.Buffers.Binary;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// The virtio 1.x PCI transport (modern only) around one <see cref="IVirtioDevice"/>: the vendor capabilities
/// pointing into BAR 0 (<see cref="VirtioPciLayout"/>), the device status state machine, queue notifications
/// through ioeventfd doorbells and interrupts through MSI-X (one vector per queue plus one for config changes), or,
/// while MSI-X is off (a kernel without MSI, <c>pci=nomsi</c>), through the INTA pin: the line is high while the ISR
/// holds a bit, MSI-X is off and the command register's interrupt-disable bit is clear; reading the ISR clears it.
/// Register accesses from vCPUs are serialised by one lock; device threads never take it, so a reset may wait
/// for them while holding it. The ISR and the INTx level change together under a second, inner lock, so a read
/// that clears the ISR can never leave the line high with nothing pending (an interrupt storm the guest would kill).
/// </summary>
public sealed partial class VirtioPciDevice : PciDevice, IVirtioDeviceEvents, IDisposable
{
    private const int IsrQueue = 1;
    private const int IsrConfig = 2;
    private const int PciCfgBarField = 4;
    private const int PciCfgOffsetField = 8;
    private const int PciCfgLengthField = 12;
    private const int PciCfgDataField = 16;

    private readonly Lock _lock = new();
    private readonly Lock _intxLock = new();
    private readonly IVirtioDevice _device;
    private readonly GuestMemory _memory;
    private readonly IDoorbellRegistry _doorbellRegistry;
    private readonly GuestErrorLog _errors;
    private readonly VirtioCommonConfig _common;
    private readonly MsiXTable _msix;
    private readonly EventFd[] _doorbells;
    private readonly PciBarRegion _bar = new();
    private readonly int _pciCfgCapability;
    private ulong? _doorbellBase;
    private bool _doorbellsRegistered;
    private bool _active;
    private int _isr;
    private IInterruptLine? _intx;
    private bool _intxAsserted;
    private int _failed;
    private bool _outOfService; // a device thread missed its stop deadline: never activated again
    private VirtioActivation? _activation;
    private int _earlyNotifyLogged;

    public VirtioPciDevice(IVirtioDevice device, GuestMemory memory, IMsiSink msiSink, IDoorbellRegistry doorbells, Action<string> log)
        : base(new PciConfigSpace(
            VirtioPciLayout.VendorId,
            (ushort)(VirtioPciLayout.ModernDeviceIdBase + (ushort)device.Type),
            VirtioPciLayout.ClassCode(device.Type),
            VirtioPciLayout.Revision,
            VirtioPciLayout.VendorId,
            VirtioPciLayout.SubsystemId,
            PciInterruptRouting.PinA))
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(doorbells);
        ArgumentNullException.ThrowIfNull(log);
        var queueCount = device.QueueMaxSizes.Count;
        if (queueCount is 0 or > VirtioPciLayout.MaxQueues || (ulong)device.ConfigLength > VirtioPciLayout.DeviceConfigMaxLength)
        {
            throw new ArgumentException($"a virtio-pci device has 1-{VirtioPciLayout.MaxQueues} queues and at most 4 KiB of config", nameof(device));
        }

        _device = device;
        _memory = memory;
        _doorbellRegistry = doorbells;
        _errors = new GuestErrorLog(log);
        _common = new VirtioCommonConfig(device.DeviceFeatures | VirtioFeatures.Common, device.QueueMaxSizes, queueCount + 1)
        {
            StatusWritten = OnStatusWritten,
        };
        _doorbells = [.. Enumerable.Range(0, queueCount).Select(_ => new EventFd(nonBlocking: true))];

        AddVirtioCapability(VirtioPciLayout.CapCommon, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength);
        AddVirtioCapability(VirtioPciLayout.CapNotify, VirtioPciLayout.NotifyOffset, (ulong)queueCount * VirtioPciLayout.NotifyOffMultiplier, VirtioPciLayout.NotifyOffMultiplier);
        AddVirtioCapability(VirtioPciLayout.CapIsr, VirtioPciLayout.IsrOffset, VirtioPciLayout.IsrLength);
        if (device.ConfigLength > 0)
        {
            AddVirtioCapability(VirtioPciLayout.CapDevice, VirtioPciLayout.DeviceConfigOffset, (ulong)device.ConfigLength);
        }

        _pciCfgCapability = AddPciConfigAccessCapability();
        _msix = new MsiXTable(Config, queueCount + 1, VirtioPciLayout.Bar, VirtioPciLayout.MsiXTableOffset, VirtioPciLayout.Bar, VirtioPciLayout.MsiXPbaOffset, msiSink);

        _bar.Add(VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength, new Window(this, WindowKind.Common))
            .Add(VirtioPciLayout.IsrOffset, VirtioPciLayout.IsrLength, new Window(this, WindowKind.Isr))
            .Add(VirtioPciLayout.DeviceConfigOffset, VirtioPciLayout.DeviceConfigMaxLength, new Window(this, WindowKind.DeviceConfig))
            .Add(VirtioPciLayout.NotifyOffset, VirtioPciLayout.NotifyLength, new Window(this, WindowKind.Notify))
            .Add(VirtioPciLayout.MsiXTableOffset, _msix.TableSize, _msix.Table)
            .Add(VirtioPciLayout.MsiXPbaOffset, _msix.PbaSize, _msix.Pba);
        AddBar(VirtioPciLayout.Bar, PciBarKind.Memory32, VirtioPciLayout.BarSize, _bar);

        // The command register's interrupt-disable bit and MSI-X's enable bit both decide whether INTx is driven.
        Config.AddWriteObserver((_, _) => UpdateInterruptLine());
        Config.AddWriteObserver(OnCommandWritten);
    }

    public IVirtioDevice Device => _device;

    /// <summary>Errors the guest's driver caused on this function, logged or not (the <c>guest_errors</c> counter).</summary>
    public long GuestErrors => _errors.Count;

    /// <summary>The device's own counters and the transport's <c>guest_errors</c>, for the metrics.</summary>
    public IReadOnlyDictionary<string, long> Counters()
    {
        var counters = new Dictionary<string, long>(_device.Counters, StringComparer.Ordinal) { ["guest_errors"] = GuestErrors };
        return counters;
    }

    /// <summary>The status the driver sees, NEEDS_RESET included.</summary>
    public VirtioStatus Status
    {
        get
        {
            lock (_lock)
            {
                return VisibleStatus;
            }
        }
    }

    private VirtioStatus VisibleStatus => _common.Status | (Volatile.Read(ref _failed) != 0 ? VirtioStatus.NeedsReset : VirtioStatus.None);

    /// <summary>True while INTA is asserted (the ISR holds a bit that INTx reports).</summary>
    public bool InterruptLineAsserted
    {
        get
        {
            lock (_intxLock)
            {
                return _intxAsserted;
            }
        }
    }

    public void SignalQueue(int queue)
    {
        var vector = (uint)queue < (uint)_common.Queues.Count ? _common.Queues[queue].MsixVector : VirtioPciLayout.NoVector;
        Signal(IsrQueue, vector);
    }

    public void SignalConfigChange() => Signal(IsrConfig, _common.ConfigVector);

    private void Signal(int isrBit, ushort vector)
    {
        if (_msix.Enabled)
        {
            Interlocked.Or(ref _isr, isrBit);
            if (vector != VirtioPciLayout.NoVector)
            {
                _msix.Notify(vector);
            }

            return;
        }

        lock (_intxLock)
        {
            Interlocked.Or(ref _isr, isrBit);
            UpdateInterruptLineLocked();
        }
    }

    /// <summary>Reads and clears the ISR, lowering INTA with it.</summary>
    private int TakeIsr()
    {
        lock (_intxLock)
        {
            var isr = Interlocked.Exchange(ref _isr, 0);
            UpdateInterruptLineLocked();
            return isr;
        }
    }

    private void UpdateInterruptLine()
    {
        lock (_intxLock)
        {
            UpdateInterruptLineLocked();
        }
    }

    private void UpdateInterruptLineLocked()
    {
        if (_intx is null)
        {
            return;
        }

        var assert = Volatile.Read(ref _isr) != 0 && !_msix.Enabled && (Config.Command & PciConfigSpace.CommandInterruptDisable) == 0;
        if (assert != _intxAsserted)
        {
            _intxAsserted = assert;
            _intx.SetLevel(assert);
        }
    }

    protected override void OnInterruptLineConnected(IInterruptLine line)
    {
        lock (_intxLock)
        {
            _intx = line;
            UpdateInterruptLineLocked();
        }
    }

    /// <summary>
    /// Sets NEEDS_RESET and tells the driver; the first failure of each activation is counted as a guest error
    /// (logged within <see cref="GuestErrorLog"/>'s limits: a driver looping reset, bad queue, start cannot fill a log).
    /// </summary>
    public void Fail(string message)
    {
        if (Interlocked.Exchange(ref _failed, 1) != 0)
        {
            return;
        }

        _errors.Report($"{_device.Type.ToString().ToLowerInvariant()}: {message}; device needs reset");
        SignalConfigChange();
    }

    public bool DmaAllowed => Config.BusMasterEnabled;

    /// <summary>A guest error the device survives (a frame it dropped, a request it refused): counted, rarely logged.</summary>
    public void GuestError(string message) => _errors.Report($"{_device.Type.ToString().ToLowerInvariant()}: {message}");

    public override void ReadConfig(int offset, Span<byte> data)
    {
        if (Overlaps(offset, data.Length, _pciCfgCapability + PciCfgDataField, 4))
        {
            Span<byte> value = stackalloc byte[4];
            if (PciCfgWindow() is var (barOffset, length))
            {
                _bar.Read(barOffset, value[..length]);
            }

            Config.SetU32(_pciCfgCapability + PciCfgDataField, BinaryPrimitives.ReadUInt32LittleEndian(value));
        }

        base.ReadConfig(offset, data);
    }

    public override void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        base.WriteConfig(offset, data);
        if (Overlaps(offset, data.Length, _pciCfgCapability + PciCfgDataField, 4) && PciCfgWindow() is var (barOffset, length))
        {
            Span<byte> value = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(value, Config.ReadU32(_pciCfgCapability + PciCfgDataField));
            _bar.Write(barOffset, value[..length]);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            // Not StopDevice: its reset waits ResetDeadline for a stuck thread, teardown only TeardownDeadline (in Dispose).
            UnregisterDoorbells();
            if (_activation is not null)
            {
                _activation.Revoked = true;
            }

            _active = false;
        }

        _device.Dispose();
        foreach (var doorbell in _doorbells)
        {
            doorbell.Dispose();
        }
    }

    protected override void OnBarMoved(int index, PciBarMapping? mapping)
    {
        if (index != VirtioPciLayout.Bar)
        {
            return;
        }

        lock (_lock)
        {
            UnregisterDoorbells();
            _doorbellBase = mapping?.Address + VirtioPciLayout.NotifyOffset;
            if (_active)
            {
                RegisterDoorbells();
            }
        }
    }

    /// <summary>
    /// Doorbells go to KVM only while the device runs: before DRIVER_OK a notify write exits to user space, where
    /// <see cref="Notify"/> can tell the driver broke the rules, and after a reset nothing rings a stopped device.
    /// </summary>
    private void RegisterDoorbells()
    {
        if (_doorbellBase is { } baseAddress && !_doorbellsRegistered)
        {
            ForEachDoorbell(baseAddress, _doorbellRegistry.Register);
            _doorbellsRegistered = true;
        }
    }

    private void UnregisterDoorbells()
    {
        if (_doorbellBase is { } baseAddress && _doorbellsRegistered)
        {
            ForEachDoorbell(baseAddress, _doorbellRegistry.Unregister);
        }

        _doorbellsRegistered = false;
    }

    private void ForEachDoorbell(ulong baseAddress, Action<EventFd, ulong, uint> action)
    {
        for (var q = 0; q < _doorbells.Length; q++)
        {
            action(_doorbells[q], baseAddress + ((ulong)q * VirtioPciLayout.NotifyOffMultiplier), 2);
        }
    }

    private void OnStatusWritten(VirtioStatus value)
    {
        if (value == VirtioStatus.None)
        {
            StopDevice();
            _common.Reset();
            TakeIsr();
            Volatile.Write(ref _failed, 0);
            Volatile.Write(ref _earlyNotifyLogged, 0);
            return;
        }

        var old = _common.Status;
        var next = old | (value & ~VirtioStatus.NeedsReset); // only a reset clears bits
        if (Volatile.Read(ref _failed) != 0 || next.HasFlag(VirtioStatus.Failed))
        {
            // A device that needs a reset stays stopped until it gets one; so does one its driver gave up on.
            StopDevice();
            _common.Status = old.HasFlag(VirtioStatus.DriverOk) ? next : next & ~VirtioStatus.DriverOk;
            return;
        }

        if (next.HasFlag(VirtioStatus.FeaturesOk) && !old.HasFlag(VirtioStatus.FeaturesOk) && !_common.FeaturesAcceptable(_common.DriverFeatures))
        {
            next &= ~VirtioStatus.FeaturesOk; // the driver reads FEATURES_OK back and gives up
        }

        if (next.HasFlag(VirtioStatus.DriverOk) && !old.HasFlag(VirtioStatus.DriverOk))
        {
            if (_outOfService)
            {
                _common.Status = next & ~VirtioStatus.DriverOk;
                Fail("device is out of service since a thread of it missed its stop deadline");
                return;
            }

            if (!next.HasFlag(VirtioStatus.FeaturesOk))
            {
                _common.Status = next & ~VirtioStatus.DriverOk;
                Fail("DRIVER_OK set before FEATURES_OK was accepted");
                return;
            }

            _common.Status = next;
            Activate();
            return;
        }

        _common.Status = next;
    }

    /// <summary>Bus Master back on: the device threads skipped what the driver posted meanwhile, so every queue is looked at.</summary>
    private void OnCommandWritten(int offset, int length)
    {
        if (offset < PciConfigSpace.CommandOffset + 2 && PciConfigSpace.CommandOffset < offset + length && Config.BusMasterEnabled)
        {
            lock (_lock)
            {
                if (_active)
                {
                    foreach (var doorbell in _doorbells)
                    {
                        doorbell.Signal();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Starts the device on the queues the driver enabled: new ones, or with <paramref name="restored"/> ones that go on
    /// from a saved state. Either way the guest's settings are checked as the driver left them.
    /// </summary>
    private void Activate(IReadOnlyList<SplitVirtqueueState?>? restored = null)
    {
        var queues = new VirtioQueue?[_common.Queues.Count];
        for (var q = 0; q < queues.Length; q++)
        {
            var registers = _common.Queues[q];
            if (!registers.Enabled)
            {
                continue;
            }

            var config = new SplitVirtqueueConfig(
                registers.Size > registers.MaxSize ? (ushort)0 : registers.Size,
                new GuestAddress(registers.DescriptorTable),
                new GuestAddress(registers.DriverArea),
                new GuestAddress(registers.DeviceArea),
                _common.DriverFeatures);
            SplitVirtqueue? ring;
            string? error;
            if (restored?[q] is { } state)
            {
                _ = SplitVirtqueue.TryRestore(_memory, config, state, out ring, out error);
            }
            else
            {
                _ = SplitVirtqueue.TryCreate(_memory, config, out ring, out error);
            }

            if (ring is null)
            {
                Fail($"queue {q}: {error}");
                return;
            }

            queues[q] = new VirtioQueue(q, ring, _doorbells[q], _memory, this);
        }

        _activation = new VirtioActivation(_memory, _common.DriverFeatures, queues, this);
        _device.Activate(_activation);
        _active = true;
        RegisterDoorbells();
        foreach (var queue in queues)
        {
            queue?.Doorbell.Signal(); // look at buffers the driver posted before DRIVER_OK (or before the save)
        }
    }

    private void StopDevice()
    {
        UnregisterDoorbells();
        if (_active)
        {
            _active = false;
            if (_activation is not null)
            {
                _activation.Revoked = true;
            }

            if (!_device.Reset())
            {
                // A backend call that never returns: the vCPU that reset the device waited long enough. The thread is
                // abandoned (it holds a memory lease, so RAM stays mapped); the VM goes on without this device.
                _outOfService = true;
                _errors.Report($"{_device.Type.ToString().ToLowerInvariant()}: a device thread did not stop within {DeviceWorker.ResetDeadline.TotalSeconds:0} s of a reset; the device is out of service until the VM restarts");
            }
        }
    }

    private void Notify(ulong offset)
    {
        var queue = offset / VirtioPciLayout.NotifyOffMultiplier;
        if (queue >= (ulong)_doorbells.Length)
        {
            return;
        }

        if (_active)
        {
            _doorbells[queue].Signal();
        }
        else if (!_common.Status.HasFlag(VirtioStatus.DriverOk) && Interlocked.Exchange(ref _earlyNotifyLogged, 1) == 0)
        {
            // Only before DRIVER_OK: with it set and no active device, activation failed and was logged already.
            GuestError($"queue {queue} notified before DRIVER_OK; ignored");
        }
    }

    private (ulong Offset, int Length)? PciCfgWindow()
    {
        var bar = Config.ReadU8(_pciCfgCapability + PciCfgBarField);
        var offset = Config.ReadU32(_pciCfgCapability + PciCfgOffsetField);
        var length = Config.ReadU32(_pciCfgCapability + PciCfgLengthField);
        return bar == VirtioPciLayout.Bar && length is 1 or 2 or 4 && offset % length == 0 && (ulong)offset + length <= VirtioPciLayout.BarSize
            ? (offset, (int)length)
            : null;
    }

    private static bool Overlaps(int offset, int length, int start, int size) => offset < start + size && start < offset + length;

    private void AddVirtioCapability(byte type, ulong offset, ulong length, uint? notifyMultiplier = null)
    {
        Span<byte> payload = stackalloc byte[notifyMultiplier is null ? 13 : 17];
        payload.Clear();
        payload[0] = type;
        payload[1] = VirtioPciLayout.Bar;
        BinaryPrimitives.WriteUInt32LittleEndian(payload[5..], (uint)offset);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[9..], (uint)length);
        if (notifyMultiplier is { } multiplier)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload[13..], multiplier);
        }

        Config.AddVendorCapability(payload);
    }

    /// <summary>VIRTIO_PCI_CAP_PCI_CFG: a window through config space into BAR 0, for drivers that cannot map it yet.</summary>
    private int AddPciConfigAccessCapability()
    {
        Span<byte> payload = stackalloc byte[17];
        payload.Clear();
        payload[0] = VirtioPciLayout.CapPciConfig;
        Span<byte> writable = stackalloc byte[17];
        writable.Clear();
        writable[1] = 0xFF;            // bar
        writable[5..17].Fill(0xFF);    // offset, length, data
        return Config.AddVendorCapability(payload, writable);
    }

    private enum WindowKind
    {
        Common,
        Isr,
        DeviceConfig,
        Notify,
    }

    /// <summary>One of the transport's ranges in BAR 0; offsets are relative to the range.</summary>
    private sealed class Window(VirtioPciDevice owner, WindowKind kind) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            data.Clear();
            lock (owner._lock)
            {
                switch (kind)
                {
                    case WindowKind.Common:
                        owner._common.Read(offset, data, owner.VisibleStatus);
                        break;
                    case WindowKind.Isr when offset == 0:
                        data[0] = (byte)owner.TakeIsr();
                        break;
                    case WindowKind.DeviceConfig when offset + (ulong)data.Length <= (ulong)owner._device.ConfigLength:
                        owner._device.ReadConfig((int)offset, data);
                        break;
                    default:
                        break;
                }
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            lock (owner._lock)
            {
                switch (kind)
                {
                    case WindowKind.Common:
                        owner._common.Write(offset, data, owner.VisibleStatus);
                        break;
                    case WindowKind.DeviceConfig when offset + (ulong)data.Length <= (ulong)owner._device.ConfigLength:
                        owner._device.WriteConfig((int)offset, data);
                        break;
                    case WindowKind.Notify:
                        owner.Notify(offset);
                        break;
                    default:
                        break;
                }
            }
        }
    }
}
