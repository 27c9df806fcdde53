using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Legacy;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

/// <summary>A machine's PCI functions as snapshots see them: one section each, in slot order, quiesced together.</summary>
public sealed class PciDevicesStateTests : IDisposable
{
    private readonly string _disk = Path.GetTempFileName();
    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 1 << 20)]);
    private readonly PciDevices _devices;

    public PciDevicesStateTests()
    {
        File.WriteAllBytes(_disk, new byte[4096]);
        var config = new VmConfig { Kernel = [], Disks = [new DiskConfig(_disk)], VirtioConsole = true, VirtioRng = true };
        _devices = PciDevices.Create(
            config, new IoBus("pio"), new IoBus("mmio"), _memory, new RecordingMsiSink(), _ => new RecordingInterruptLine(), new RecordingDoorbellRegistry(), _ => { });
    }

    public void Dispose()
    {
        _devices.Dispose();
        _memory.Dispose();
        File.Delete(_disk);
    }

    [Fact]
    public void EachFunctionHasItsSectionInSlotOrder()
    {
        Assert.Equal(["VP01", "VP02", "VP03"], _devices.States.Select(s => s.StateTag));
        Assert.All(_devices.States, s => Assert.Equal(2u, s.StateVersion));
    }

    [Fact]
    public void ADiskRestoredFromAnotherPathIsSaidAndNothingElse()
    {
        _devices.Quiesce(TimeSpan.Zero);
        var saved = _devices.States.Select(SavedState.Save).ToArray();
        var moved = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(moved, new byte[4096]); // the same disk, copied elsewhere
            var config = new VmConfig { Kernel = [], Disks = [new DiskConfig(moved)], VirtioConsole = true, VirtioRng = true };
            using var restored = PciDevices.Create(
                config, new IoBus("pio"), new IoBus("mmio"), _memory, new RecordingMsiSink(), _ => new RecordingInterruptLine(), new RecordingDoorbellRegistry(), _ => { });
            Assert.Empty(restored.BackendChanges()); // nothing restored yet
            restored.Quiesce(TimeSpan.Zero);
            for (var i = 0; i < saved.Length; i++)
            {
                restored.States[i].RestoreState(saved[i]);
            }

            // The console and the rng name no backend: only the disk's move is said.
            Assert.Equal([$"VP01: saved with file {_disk} read-write, restored with file {moved} read-write"], restored.BackendChanges());
        }
        finally
        {
            File.Delete(moved);
        }
    }

    [Fact]
    public void IdleFunctionsQuiesceAtOnceAndSaveAndGoOn()
    {
        _devices.Quiesce(TimeSpan.Zero);
        foreach (var state in _devices.States)
        {
            var payload = new StatePayload();
            state.SaveState(payload);
            Assert.NotEqual(0, payload.WrittenSpan.Length);
        }

        _devices.Unquiesce();
        _devices.Unquiesce(); // harmless twice
    }
}
