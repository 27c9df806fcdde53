using System.Text;
using System.Text.Unicode;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// The function's saved state, section <c>VP</c> + its slot in two hex digits:
/// <code>
/// shape      u16 virtio device type, u16 queue count, per queue u16 maximum size
/// PCI        config space (<see cref="Pci.PciConfigSpace"/>), then the MSI-X table (<see cref="Pci.MsiXTable"/>)
/// transport  u8 ISR, bool NEEDS_RESET, the common configuration (<see cref="VirtioCommonConfig"/>)
/// rings      per queue bool running, then for a running one its <see cref="SplitVirtqueueState"/>
/// backend    (version 2) what the device was connected to on the host (<see cref="Backend"/>), UTF-8 as a byte string
/// device     the device's own state as a byte string (<see cref="IVirtioDeviceState"/>; empty for none)
/// </code>
/// Version 1, without the backend, is still read.
/// A running device is saved quiesced, so no chain is in flight. A restore goes into a function freshly built with the
/// same backend; it checks every part before it changes anything, then puts config space back (the root bus moves the
/// BAR claims), the MSI-X table, the registers and the device's own state, and, when the driver had the device
/// running, activates it as DRIVER_OK does: doorbells registered, worker started, every queue looked at (once the
/// function is not quiesced: see <see cref="Quiesce"/>).
/// </summary>
public sealed partial class VirtioPciDevice : IDeviceState
{
    public string StateTag => Slot >= 0 ? $"VP{Slot:X2}" : throw new InvalidOperationException("the function is on no PCI bus yet");

    public uint StateVersion => 2;

    // A backend is a path or a TAP's name and a word or two: far under this.
    private const int MaxBackendLength = 4096;

    /// <summary>
    /// What the device is connected to on the host ("file /srv/vm.img read-write", "tap vnet0"; empty when nothing
    /// names it), saved with the function's state as the state asks.
    /// </summary>
    public string Backend { get; init; } = "";

    /// <summary>The backend the restored state was saved with (null: none restored, or a version 1 section).</summary>
    public string? SavedBackend { get; private set; }

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            var needsReset = Volatile.Read(ref _failed) != 0;
            var runs = VirtioCommonConfig.Runs(_common.Status, needsReset);
            if (runs && !_quiesced)
            {
                throw new InvalidOperationException($"{StateTag}: a running function is saved quiesced, with nothing in flight");
            }

            payload.U16((ushort)_device.Type).U16((ushort)_common.Queues.Count);
            foreach (var queue in _common.Queues)
            {
                payload.U16(queue.MaxSize);
            }

            // Config space is the root bus's to serialise; with the vCPUs paused nothing else accesses it.
            Config.SaveState(payload);
            _msix.SaveState(payload);
            payload.U8((byte)Volatile.Read(ref _isr)).Bool(needsReset);
            _common.SaveState(payload);
            for (var q = 0; q < _common.Queues.Count; q++)
            {
                var running = runs && _common.Queues[q].Enabled;
                payload.Bool(running);
                if (running)
                {
                    var queue = _activation?.Queues[q] ?? throw new InvalidOperationException($"{StateTag}: queue {q} runs without a ring");
                    queue.Ring.State.Write(payload);
                }
            }

            payload.Bytes(Encoding.UTF8.GetBytes(Backend));
            var own = new StatePayload();
            (_device as IVirtioDeviceState)?.SaveDeviceState(own);
            payload.Bytes(own.WrittenSpan);
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var name = section.Name;
        var reader = section.Expect(StateVersion).Reader();
        var type = (VirtioDeviceType)reader.U16();
        StateFields.Require(type == _device.Type, name, $"the section is of a virtio {Describe(type)} function, this slot holds a virtio {Describe(_device.Type)} one");
        var queueCount = reader.U16();
        StateFields.Require(queueCount == _common.Queues.Count, name, $"a function of {queueCount} queues, this one has {_common.Queues.Count}");
        for (var q = 0; q < queueCount; q++)
        {
            var maxSize = reader.U16();
            StateFields.Require(maxSize == _common.Queues[q].MaxSize, name, $"queue {q} holds up to {maxSize} entries, this function's {_common.Queues[q].MaxSize}");
        }

        var applyConfig = Config.ReadState(ref reader, name);
        var applyMsix = _msix.ReadState(ref reader, name);
        var isr = reader.U8();
        StateFields.Require(isr <= (IsrQueue | IsrConfig), name, $"ISR 0x{isr:x2} sets bits other than queue and config");
        var needsReset = reader.Bool();
        var applyCommon = _common.ReadState(ref reader, name, needsReset, out var running);
        var rings = new SplitVirtqueueState?[queueCount];
        for (var q = 0; q < queueCount; q++)
        {
            var hasRing = reader.Bool();
            StateFields.Require(hasRing == running[q], name, hasRing ? $"queue {q} has ring state but does not run" : $"queue {q} runs but has no ring state");
            rings[q] = hasRing ? SplitVirtqueueState.Read(ref reader, name, q) : null;
        }

        string? savedBackend = null;
        if (section.Version >= 2)
        {
            var backend = reader.Bytes(MaxBackendLength);
            StateFields.Require(Utf8.IsValid(backend), name, "the backend is not UTF-8 text");
            savedBackend = Encoding.UTF8.GetString(backend);

            // It ends up in a log line: a stream from a hostile source must not add lines of its own.
            StateFields.Require(!savedBackend.Any(char.IsControl), name, "the backend holds control characters");
        }

        var own = reader.Bytes(int.MaxValue);
        reader.ExpectEnd();
        var ownReader = new StatePayloadReader(own, name);
        var applyOwn = _device is IVirtioDeviceState device ? device.ReadDeviceState(ref ownReader, name) : () => { };
        ownReader.ExpectEnd();

        // Everything is checked: from here on the function changes. Whatever ran is stopped first, as by a reset.
        lock (_lock)
        {
            StopDevice();
        }

        // Under the root bus's config lock, which then moves the BAR claims (and this function's doorbell base).
        ReplaceConfig(() =>
        {
            applyConfig();
            applyMsix();
        });

        lock (_lock)
        {
            applyCommon();
            applyOwn();
            SavedBackend = savedBackend;
            Interlocked.Exchange(ref _isr, isr);
            Volatile.Write(ref _failed, needsReset ? 1 : 0);
            if (VirtioCommonConfig.Runs(_common.Status, needsReset))
            {
                if (_outOfService)
                {
                    Fail("device is out of service since a thread of it missed its stop deadline");
                }
                else
                {
                    Activate(rings);
                }
            }
        }

        UpdateInterruptLine();
    }

    private static string Describe(VirtioDeviceType type) =>
        Enum.IsDefined(type) ? type.ToString().ToLowerInvariant() : $"type {(ushort)type}";
}
