using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Tests.Devices.Legacy;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

/// <summary>
/// Interrupts for a driver that leaves MSI-X off (a kernel without MSI, or <c>pci=nomsi</c>): the function's INTA pin,
/// wired by the root bus to a GSI, high while the ISR holds a bit and cleared by reading the ISR (virtio 1.2, 4.1.4.5).
/// </summary>
public sealed class VirtioPciIntxTests : IDisposable
{
    private const int Queue = 0;

    private readonly VirtioPciDriver _driver = new(new VirtioRng());

    public void Dispose() => _driver.Dispose();

    private RecordingInterruptLine Inta => _driver.Machine.GsiLines[PciInterruptRouting.Gsi(_driver.Slot, PciInterruptRouting.PinA)];

    private void FillOneBuffer(ushort usedIndex)
    {
        _driver.Queues[Queue]!.Add(new Buffer(_driver.Allocate(16), 16, Write: true));
        _driver.Kick(Queue);
        Assert.Single(_driver.WaitForUsed(Queue, usedIndex));
    }

    [Fact]
    public void FunctionHasIntaRoutedToItsGsiAndSaysWhichInTheInterruptLineRegister()
    {
        Assert.Equal(1, _driver.Slot);
        Assert.Equal((uint)PciInterruptRouting.PinA, _driver.ConfigRead(PciConfigSpace.InterruptPinOffset, 1));
        Assert.Equal(17u, _driver.ConfigRead(PciConfigSpace.InterruptLineOffset, 1));
        Assert.Equal([17], _driver.Machine.GsiLines.Keys); // the host bridge has no pin, so no line
        Assert.Empty(Inta.Changes);
    }

    [Fact]
    public void WithoutMsiXAUsedBufferRaisesIntaUntilTheDriverReadsTheIsr()
    {
        _driver.Start(VirtioFeatures.Version1, msix: false);

        FillOneBuffer(1);
        VirtioPciDriver.WaitUntil(() => Inta.IsAsserted, "INTA to rise");

        Assert.Equal(1, _driver.ReadIsr()); // queue interrupt
        Assert.False(Inta.IsAsserted);
        Assert.Equal(0, _driver.ReadIsr());
        Assert.Empty(_driver.Msi.Messages);

        FillOneBuffer(2);
        VirtioPciDriver.WaitUntil(() => Inta.IsAsserted, "INTA to rise again");
        Assert.Equal(1, _driver.ReadIsr());
        Assert.Equal([true, false, true, false], Inta.Changes);
    }

    [Fact]
    public void WithMsiXOnTheSameWorkSendsAMessageAndLeavesIntaAlone()
    {
        _driver.Start(VirtioFeatures.Version1);

        FillOneBuffer(1);
        _driver.WaitForMsi(Queue, 1);

        Assert.Empty(Inta.Changes);
        Assert.False(_driver.Transport.InterruptLineAsserted);
    }

    [Fact]
    public void InterruptDisableHoldsIntaLowAndClearingItRaisesWhatIsPending()
    {
        _driver.Start(VirtioFeatures.Version1, msix: false);
        var command = _driver.ConfigRead(PciConfigSpace.CommandOffset, 2);
        _driver.ConfigWrite(PciConfigSpace.CommandOffset, command | PciConfigSpace.CommandInterruptDisable, 2);

        _driver.Transport.SignalQueue(Queue);
        Assert.Empty(Inta.Changes);

        _driver.ConfigWrite(PciConfigSpace.CommandOffset, command & ~(uint)PciConfigSpace.CommandInterruptDisable, 2);
        Assert.True(Inta.IsAsserted);
        Assert.Equal(1, _driver.ReadIsr());
        Assert.False(Inta.IsAsserted);
    }

    [Fact]
    public void EnablingMsiXOrResettingTheDeviceLowersARaisedInta()
    {
        _driver.Start(VirtioFeatures.Version1, msix: false);
        _driver.Transport.SignalConfigChange();
        Assert.True(Inta.IsAsserted);

        _driver.EnableMsiX();
        Assert.False(Inta.IsAsserted);
        _driver.ConfigWrite(_driver.MsiXCapability + 2, 0, 2); // MSI-X off again: the ISR still holds the config bit
        Assert.True(Inta.IsAsserted);

        _driver.Status = VirtioStatus.None;
        Assert.False(Inta.IsAsserted);
        Assert.Equal(0, _driver.ReadIsr());
    }

    [Fact]
    public void FunctionsSharingAGsiKeepItHighUntilBothAreServed()
    {
        // Slot 1 and slot 9 both land on GSI 17; fill slots 2-8 with other functions to get there.
        using var others = new DisposableList();
        for (var i = 0; i < 7; i++)
        {
            others.Add(new VirtioPciDevice(new VirtioRng(), _driver.Memory, _driver.Msi, _driver.Doorbells, _ => { }));
            _driver.Machine.Root.AddDevice(others[^1]);
        }

        var ninth = new VirtioPciDevice(new VirtioRng(), _driver.Memory, _driver.Msi, _driver.Doorbells, _ => { });
        others.Add(ninth);
        Assert.Equal(9, _driver.Machine.Root.AddDevice(ninth));
        Assert.Equal(8, _driver.Machine.GsiLines.Count);

        _driver.Transport.SignalQueue(Queue);
        ninth.SignalQueue(Queue);
        Assert.Equal(1, _driver.ReadIsr());
        Assert.True(Inta.IsAsserted); // the ninth function still asserts it
        Assert.True(ninth.InterruptLineAsserted);
        Assert.Equal([true], Inta.Changes);
    }

    private sealed class DisposableList : List<VirtioPciDevice>, IDisposable
    {
        public void Dispose() => ForEach(d => d.Dispose());
    }
}
