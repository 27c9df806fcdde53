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
        Assert.All(_devices.States, s => Assert.Equal(1u, s.StateVersion));
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
