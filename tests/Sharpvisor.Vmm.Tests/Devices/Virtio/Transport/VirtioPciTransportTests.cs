using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Net;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

/// <summary>The virtio-pci transport driven like a guest driver would, mostly around virtio-rng (one queue, no config).</summary>
public sealed class VirtioPciTransportTests : IDisposable
{
    private const int RngQueue = 0;
    private const int RngConfigVector = 1;

    private readonly VirtioPciDriver _driver = new(new VirtioRng());

    public void Dispose() => _driver.Dispose();

    private static ulong RngFeatures => VirtioFeatures.Version1;

    /// <summary>Posts one writable buffer to the rng queue, rings and waits for it to come back filled.</summary>
    private void AssertRngWorks(ushort usedIndex)
    {
        var buffer = _driver.Allocate(32);
        _driver.Queues[RngQueue]!.Add(new Buffer(buffer, 32, Write: true));
        var before = _driver.MsiCount(RngQueue);
        _driver.Kick(RngQueue);
        var used = Assert.Single(_driver.WaitForUsed(RngQueue, usedIndex));
        Assert.Equal(32u, used.Length);
        _driver.WaitForMsi(RngQueue, before + 1);
    }

    [Fact]
    public void CapabilityChainDescribesTheStructuresInBar0()
    {
        var caps = _driver.Caps;
        Assert.Equal([1, 2, 3, 5], caps.Select(c => (int)c.Type)); // no device config: rng has none
        Assert.All(caps, c => Assert.Equal(VirtioPciLayout.Bar, c.Bar));
        Assert.Equal(new VirtioCap(caps[0].At, 16, 1, 0, 0x0000, 0x38, 0), caps[0]);
        Assert.Equal(new VirtioCap(caps[1].At, 20, 2, 0, 0x3000, 4, 4), caps[1]); // one queue, 4 bytes a queue
        Assert.Equal(new VirtioCap(caps[2].At, 16, 3, 0, 0x1000, 4, 0), caps[2]);
        Assert.Equal(20, caps[3].CapLength);
        Assert.Equal((0u, 0u), (caps[3].Offset, caps[3].Length)); // the PCI_CFG window starts empty

        // MSI-X: one vector per queue plus config, the table and PBA in BAR 0.
        var msix = _driver.MsiXCapability;
        Assert.Equal(1u, _driver.ConfigRead(msix + 2, 2) & 0x7FF);
        Assert.Equal(VirtioPciLayout.MsiXTableOffset | VirtioPciLayout.Bar, _driver.ConfigRead(msix + 4));
        Assert.Equal(VirtioPciLayout.MsiXPbaOffset | VirtioPciLayout.Bar, _driver.ConfigRead(msix + 8));

        // Every structure lies inside the BAR.
        Assert.All(caps.Where(c => c.Type != VirtioPciLayout.CapPciConfig), c => Assert.True(c.Offset + c.Length <= VirtioPciLayout.BarSize));
    }

    [Fact]
    public void DevicesWithConfigAndSeveralQueuesListTheirConfigAndNotifyArea()
    {
        using var net = new VirtioPciDriver(new VirtioNet(new FakeNetBackend(), [2, 0, 0, 0, 0, 1]));
        Assert.Equal([1, 2, 3, 4, 5], net.Caps.Select(c => (int)c.Type));
        var notify = net.Cap(VirtioPciLayout.CapNotify);
        Assert.Equal((0x3000u, 8u, 4u), (notify.Offset, notify.Length, notify.NotifyMultiplier));
        var device = net.Cap(VirtioPciLayout.CapDevice);
        Assert.Equal((0x2000u, 10u), (device.Offset, device.Length));
        Assert.Equal(2u, net.ConfigRead(net.MsiXCapability + 2, 2) & 0x7FF);
        Assert.Equal(2UL, net.Common(VirtioPciDriver.NumQueues, 2));

        // queue_notify_off is the queue index: each queue's doorbell is its own 4 bytes.
        for (var q = 0; q < 2; q++)
        {
            net.SetCommon(VirtioPciDriver.QueueSelect, (ulong)q, 2);
            Assert.Equal((ulong)q, net.Common(VirtioPciDriver.QueueNotifyOff, 2));
        }
    }

    public static TheoryData<string, ushort, uint> Identities => new()
    {
        { "net", 0x1041, 0x02_00_00 },
        { "block", 0x1042, 0x01_80_00 },
        { "console", 0x1043, 0x07_80_00 },
        { "rng", 0x1044, 0xFF_00_00 },
    };

    [Theory]
    [MemberData(nameof(Identities))]
    public void IdentityIsModernVirtio(string kind, ushort deviceId, uint classCode)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[4096]);
            IVirtioDevice device = kind switch
            {
                "net" => new VirtioNet(new FakeNetBackend(), [2, 0, 0, 0, 0, 1]),
                "block" => new VirtioBlock(RawFileBackend.Open(path, readOnly: true), "id"),
                "console" => new VirtioConsole(null),
                _ => new VirtioRng(),
            };
            using var driver = new VirtioPciDriver(device);
            Assert.Equal(((uint)deviceId << 16) | 0x1AF4, driver.ConfigRead(0));
            Assert.Equal((classCode << 8) | 1, driver.ConfigRead(PciConfigSpace.RevisionIdOffset)); // revision 1: modern only
            Assert.Equal(0x0040_1AF4u, driver.ConfigRead(PciConfigSpace.SubsystemVendorIdOffset)); // subsystem ID >= 0x40

            // BAR 0 is 32-bit memory of 32 KiB, placed in the PCI window, and decoding.
            var bar = driver.ConfigRead(PciConfigSpace.BarOffset(0));
            Assert.Equal(0u, bar & 0xF);
            Assert.Equal(0UL, driver.Bar0 % VirtioPciLayout.BarSize);
            driver.ConfigWrite(PciConfigSpace.BarOffset(0), 0xFFFF_FFFF);
            Assert.Equal(~(uint)(VirtioPciLayout.BarSize - 1), driver.ConfigRead(PciConfigSpace.BarOffset(0)));
            driver.ConfigWrite(PciConfigSpace.BarOffset(0), bar);
            Assert.Equal(bar, driver.ConfigRead(PciConfigSpace.BarOffset(0)));
            Assert.Equal(PciConfigSpace.CommandMemorySpace, driver.ConfigRead(PciConfigSpace.CommandOffset, 2) & PciConfigSpace.CommandMemorySpace);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FeaturesOfferedAreTheDevicesPlusVersion1IndirectAndEventIndex()
    {
        var offered = _driver.OfferedFeatures;
        Assert.Equal(VirtioFeatures.Version1 | VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex, offered);

        // Selectors past the two feature words read zero.
        _driver.SetCommon(VirtioPciDriver.DeviceFeatureSelect, 2, 4);
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.DeviceFeature, 4));
        Assert.Equal(2UL, _driver.Common(VirtioPciDriver.DeviceFeatureSelect, 4));

        Assert.True(_driver.Negotiate(VirtioFeatures.Version1 | VirtqueueFeatures.EventIndex));
        Assert.Equal(VirtioFeatures.Version1 | VirtqueueFeatures.EventIndex, _driver.DriverFeatures);
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk, _driver.Status);

        // After FEATURES_OK the accepted features are fixed.
        _driver.DriverFeatures = VirtioFeatures.Version1 | VirtqueueFeatures.IndirectDescriptors;
        Assert.Equal(VirtioFeatures.Version1 | VirtqueueFeatures.EventIndex, _driver.DriverFeatures);
    }

    public static TheoryData<ulong> RefusedFeatures => new()
    {
        VirtioFeatures.Version1 | (1UL << 7),                 // a device bit rng does not offer
        VirtioFeatures.Version1 | (1UL << 33),                // an unknown transport bit (ACCESS_PLATFORM)
        VirtioFeatures.Version1 | (1UL << 63),
        0,                                                    // a legacy driver: no VERSION_1
        VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex,
    };

    [Theory]
    [MemberData(nameof(RefusedFeatures))]
    public void FeaturesOkIsRefusedForUnofferedBitsOrWithoutVersion1(ulong features)
    {
        Assert.False(_driver.Negotiate(features));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver, _driver.Status);

        // The driver may try again with an acceptable set, without a reset.
        _driver.DriverFeatures = VirtioFeatures.Version1;
        _driver.AddStatus(VirtioStatus.FeaturesOk);
        Assert.True(_driver.Status.HasFlag(VirtioStatus.FeaturesOk));
        Assert.Empty(_driver.Log);
    }

    [Fact]
    public void QueueRegistersReadBackAndAddressesTakeTwoHalves()
    {
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.NumQueues, 2));
        _driver.SetCommon(VirtioPciDriver.QueueSelect, 0, 2);
        Assert.Equal(64UL, _driver.Common(VirtioPciDriver.QueueSize, 2)); // the maximum until the driver shrinks it
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueEnable, 2));
        Assert.Equal(0xFFFFUL, _driver.Common(VirtioPciDriver.QueueMsixVector, 2));

        _driver.SetCommon(VirtioPciDriver.QueueDesc, 0x1234_5000, 4);
        _driver.SetCommon(VirtioPciDriver.QueueDesc + 4, 0x1, 4);
        Assert.Equal(0x1_1234_5000UL, _driver.Common(VirtioPciDriver.QueueDesc, 8));
        _driver.SetCommon(VirtioPciDriver.QueueDesc + 4, 0xABCD, 4); // the high half alone keeps the low half
        Assert.Equal(0xABCD_1234_5000UL, _driver.Common(VirtioPciDriver.QueueDesc, 8));
        Assert.Equal(0x1234_5000UL, _driver.Common(VirtioPciDriver.QueueDesc, 4));
        Assert.Equal(0xABCDUL, _driver.Common(VirtioPciDriver.QueueDesc + 4, 4));

        _driver.SetCommon(VirtioPciDriver.QueueDriver, 0x0000_0002_0000_3000, 8); // one qword works too
        _driver.SetCommon(VirtioPciDriver.QueueDevice + 4, 0x3, 4);
        _driver.SetCommon(VirtioPciDriver.QueueDevice, 0x4000, 4);
        Assert.Equal(0x2_0000_3000UL, _driver.Common(VirtioPciDriver.QueueDriver, 8));
        Assert.Equal(0x3_0000_4000UL, _driver.Common(VirtioPciDriver.QueueDevice, 8));

        // A queue that does not exist reads as zeros and takes no writes.
        _driver.SetCommon(VirtioPciDriver.QueueSelect, 1, 2);
        _driver.SetCommon(VirtioPciDriver.QueueSize, 8, 2);
        _driver.SetCommon(VirtioPciDriver.QueueEnable, 1, 2);
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.QueueSelect, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueSize, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueEnable, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueDesc, 8));
    }

    [Fact]
    public void QueueRegistersAreFrozenOnceEnabled()
    {
        Assert.True(_driver.Negotiate(RngFeatures));
        _driver.SetupQueue(RngQueue, 16, 0x1000, 0x3000, 0x4000, 0);
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.QueueEnable, 2));

        _driver.SetCommon(VirtioPciDriver.QueueSize, 32, 2);
        _driver.SetCommon(VirtioPciDriver.QueueDesc, 0x8000, 8);
        _driver.SetCommon(VirtioPciDriver.QueueDriver, 0x9000, 4);
        _driver.SetCommon(VirtioPciDriver.QueueDevice + 4, 1, 4);
        _driver.SetCommon(VirtioPciDriver.QueueEnable, 0, 2); // a driver may not disable a queue either
        Assert.Equal(16UL, _driver.Common(VirtioPciDriver.QueueSize, 2));
        Assert.Equal(0x1000UL, _driver.Common(VirtioPciDriver.QueueDesc, 8));
        Assert.Equal(0x3000UL, _driver.Common(VirtioPciDriver.QueueDriver, 8));
        Assert.Equal(0x4000UL, _driver.Common(VirtioPciDriver.QueueDevice, 8));
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.QueueEnable, 2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0x7FFF)]
    [InlineData(0xFFFE)]
    public void AVectorTheFunctionDoesNotHaveReadsBackAsNoVector(ushort vector)
    {
        _driver.SetCommon(VirtioPciDriver.ConfigMsixVector, vector, 2);
        Assert.Equal(0xFFFFUL, _driver.Common(VirtioPciDriver.ConfigMsixVector, 2));
        _driver.SetCommon(VirtioPciDriver.QueueMsixVector, vector, 2);
        Assert.Equal(0xFFFFUL, _driver.Common(VirtioPciDriver.QueueMsixVector, 2));

        // The vectors that exist (queue count + 1) are kept.
        _driver.SetCommon(VirtioPciDriver.ConfigMsixVector, 1, 2);
        _driver.SetCommon(VirtioPciDriver.QueueMsixVector, 0, 2);
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.ConfigMsixVector, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueMsixVector, 2));
    }

    [Fact]
    public void DeviceWorksEndToEndWithAnMsiPerCompletion()
    {
        _driver.Start(RngFeatures);
        for (ushort i = 1; i <= 3; i++)
        {
            AssertRngWorks(i);
        }

        Assert.Equal(3, _driver.MsiCount(RngQueue));
        Assert.Equal(0, _driver.MsiCount(RngConfigVector));
        Assert.Empty(_driver.Log);
    }

    [Fact]
    public void BuffersPostedBeforeDriverOkAreServedAtDriverOk()
    {
        Assert.True(_driver.Negotiate(RngFeatures));
        _driver.EnableMsiX();
        var queue = _driver.SetupQueue(RngQueue, 16, RngFeatures, 0);
        var buffer = _driver.Allocate(16);
        queue.Add(new Buffer(buffer, 16, Write: true));
        queue.Kick();
        _driver.AddStatus(VirtioStatus.DriverOk);
        Assert.Single(_driver.WaitForUsed(RngQueue, 1));
        _driver.WaitForMsi(RngQueue, 1);
    }

    [Fact]
    public void TheRegisteredDoorbellEventFdWakesTheDevice()
    {
        // With KVM the notify write never reaches the bus: the kernel signals the registered eventfd instead.
        _driver.Start(RngFeatures);
        var doorbell = Assert.Single(_driver.Doorbells.Registered);
        Assert.Equal(_driver.Bar0 + VirtioPciLayout.NotifyOffset, doorbell.Address);
        Assert.Equal(2u, doorbell.Length);

        var buffer = _driver.Allocate(8);
        _driver.Queues[RngQueue]!.Add(new Buffer(buffer, 8, Write: true));
        _driver.Queues[RngQueue]!.Kick();
        doorbell.Doorbell.Signal();
        Assert.Single(_driver.WaitForUsed(RngQueue, 1));
    }

    [Fact]
    public void ResetStopsTheDeviceAndClearsTheRegisters()
    {
        _driver.Start(RngFeatures);
        AssertRngWorks(1);
        var doorbell = Assert.Single(_driver.Doorbells.Registered).Doorbell;

        _driver.Status = VirtioStatus.None;
        Assert.Equal(VirtioStatus.None, _driver.Status);
        Assert.Equal(0UL, _driver.DriverFeatures);
        Assert.Equal(0xFFFFUL, _driver.Common(VirtioPciDriver.ConfigMsixVector, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueSelect, 2));
        Assert.Equal(64UL, _driver.Common(VirtioPciDriver.QueueSize, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueEnable, 2));
        Assert.Equal(0xFFFFUL, _driver.Common(VirtioPciDriver.QueueMsixVector, 2));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueDesc, 8));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueDriver, 8));
        Assert.Equal(0UL, _driver.Common(VirtioPciDriver.QueueDevice, 8));
        Assert.Equal(0, _driver.ReadIsr());

        // The device thread is gone: a buffer on the old ring stays unused whichever way the doorbell rings.
        var buffer = _driver.Allocate(8, fill: 0xEE);
        _driver.Queues[RngQueue]!.Add(new Buffer(buffer, 8, Write: true));
        _driver.Kick(RngQueue);
        doorbell.Signal();
        Thread.Sleep(50);
        Assert.Equal(1, _driver.Queues[RngQueue]!.UsedIndex);
        Assert.All(_driver.ReadGuest(buffer, 8), b => Assert.Equal(0xEE, b));

        // A correct re-initialisation works again.
        _driver.Start(RngFeatures);
        AssertRngWorks(1);
    }

    [Fact]
    public void DriverOkWithoutFeaturesOkNeedsReset()
    {
        _driver.EnableMsiX();
        _driver.SetCommon(VirtioPciDriver.ConfigMsixVector, RngConfigVector, 2);
        _driver.AddStatus(VirtioStatus.Acknowledge | VirtioStatus.Driver);
        _driver.DriverFeatures = RngFeatures;
        for (var i = 0; i < 3; i++)
        {
            _driver.AddStatus(VirtioStatus.DriverOk);
        }

        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.NeedsReset, _driver.Status);
        Assert.Equal(1, _driver.MsiCount(RngConfigVector));
        var message = Assert.Single(_driver.Log);
        Assert.Contains("FEATURES_OK", message, StringComparison.Ordinal);
        Assert.Equal(2, _driver.ReadIsr()); // a config change
        Assert.Equal(0, _driver.ReadIsr());

        _driver.Start(RngFeatures);
        AssertRngWorks(1);
        Assert.Single(_driver.Log);
    }

    public static TheoryData<string, ulong, ulong, ulong, ushort> BadRings => new()
    {
        { "descriptor table past the end of RAM", VirtioPciDriver.RamSize - 0x80, 0x3000, 0x4000, 16 },
        { "available ring outside RAM", 0x1000, 0x1_0000_0000, 0x4000, 16 },
        { "used ring in the MMIO hole", 0x1000, 0x3000, 0xC000_0000, 16 },
        { "descriptor table on the device's own BAR", 0xC000_0000, 0x3000, 0x4000, 16 },
        { "descriptor table wrapping the address space", 0xFFFF_FFFF_FFFF_FF00, 0x3000, 0x4000, 16 },
        { "misaligned used ring", 0x1000, 0x3000, 0x4002, 16 },
        { "queue size not a power of two", 0x1000, 0x3000, 0x4000, 12 },
        { "queue size above the maximum", 0x1000, 0x3000, 0x4000, 128 },
        { "queue size zero", 0x1000, 0x3000, 0x4000, 0 },
    };

    [Theory]
    [MemberData(nameof(BadRings))]
    public void ARingOutsideRamAtDriverOkNeedsResetAndIsLoggedOnce(string what, ulong descriptors, ulong driverArea, ulong deviceArea, ushort size)
    {
        Assert.True(_driver.Negotiate(RngFeatures), what);
        _driver.EnableMsiX();
        _driver.SetCommon(VirtioPciDriver.ConfigMsixVector, RngConfigVector, 2);
        _driver.SetupQueue(RngQueue, size, descriptors, driverArea, deviceArea, 0);
        for (var i = 0; i < 3; i++)
        {
            _driver.AddStatus(VirtioStatus.DriverOk);
            _driver.Notify(RngQueue);
        }

        Assert.True(_driver.Status.HasFlag(VirtioStatus.NeedsReset), what);
        Assert.Equal(0x40UL, _driver.Common(VirtioPciDriver.DeviceStatus, 1) & 0x40);
        Assert.Equal(1, _driver.MsiCount(RngConfigVector));
        Assert.Equal(0, _driver.MsiCount(RngQueue));
        var message = Assert.Single(_driver.Log);
        Assert.StartsWith("entropy: queue 0:", message, StringComparison.Ordinal);
        Assert.Contains("needs reset", message, StringComparison.Ordinal);

        // Reset and a correct set-up bring the device back; the failure is logged again only if it recurs.
        _driver.Start(RngFeatures);
        Assert.False(_driver.Status.HasFlag(VirtioStatus.NeedsReset));
        AssertRngWorks(1);
        Assert.Single(_driver.Log);
    }

    [Fact]
    public void RingsAbove4GiBWorkAndARingRunningIntoTheMmioHoleNeedsReset()
    {
        var memory = GuestMemory.Create([(new GuestAddress(0), MemoryLayout.MmioHoleStart), (new GuestAddress(MemoryLayout.MmioHoleEnd), 1 << 20)]);
        using var driver = new VirtioPciDriver(new VirtioRng(), memory);
        Assert.True(driver.Negotiate(RngFeatures));
        driver.EnableMsiX();
        driver.SetCommon(VirtioPciDriver.ConfigMsixVector, RngConfigVector, 2);
        var queue = driver.SetupQueue(RngQueue, 16, RngFeatures, 0, ringBase: MemoryLayout.MmioHoleEnd);
        Assert.Equal(MemoryLayout.MmioHoleEnd + MockDriver.UsedRingAddress, driver.Common(VirtioPciDriver.QueueDevice, 8));
        driver.AddStatus(VirtioStatus.DriverOk);
        var buffer = driver.Allocate(32);
        queue.Add(new Buffer(buffer, 32, Write: true));
        driver.Kick(RngQueue);
        Assert.Equal(32u, Assert.Single(driver.WaitForUsed(RngQueue, 1)).Length);
        Assert.Empty(driver.Log);

        // A used ring starting in RAM just below the hole and ending inside it.
        Assert.True(driver.Negotiate(RngFeatures));
        driver.SetCommon(VirtioPciDriver.ConfigMsixVector, RngConfigVector, 2);
        driver.SetupQueue(RngQueue, 16, 0x1000, 0x3000, MemoryLayout.MmioHoleStart - 0x40, 0);
        driver.AddStatus(VirtioStatus.DriverOk);
        Assert.True(driver.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Contains("used ring", Assert.Single(driver.Log), StringComparison.Ordinal);
        Assert.Equal(1, driver.MsiCount(RngConfigVector));
    }

    [Fact]
    public void TheIsrIsClearedByReading()
    {
        _driver.Start(RngFeatures);
        Assert.Equal(0, _driver.ReadIsr());
        AssertRngWorks(1);
        Assert.Equal(1, _driver.ReadIsr());
        Assert.Equal(0, _driver.ReadIsr());

        _driver.Transport.SignalConfigChange();
        _driver.Transport.SignalQueue(RngQueue);
        Assert.Equal(3UL, _driver.BarRead(VirtioPciLayout.IsrOffset, 4)); // a dword read clears it too
        Assert.Equal(0, _driver.ReadIsr());
        Assert.Equal(1, _driver.MsiCount(RngConfigVector));
    }

    [Fact]
    public void AQueueWithoutAVectorRaisesNoMsiButSetsTheIsr()
    {
        Assert.True(_driver.Negotiate(RngFeatures));
        _driver.EnableMsiX();
        var queue = _driver.SetupQueue(RngQueue, 16, RngFeatures, VirtioPciLayout.NoVector);
        _driver.AddStatus(VirtioStatus.DriverOk);
        queue.Add(new Buffer(_driver.Allocate(8), 8, Write: true));
        _driver.Kick(RngQueue);
        Assert.Single(_driver.WaitForUsed(RngQueue, 1));
        VirtioPciDriver.WaitUntil(() => _driver.ReadIsr() == 1, "the ISR queue bit");
        Assert.Empty(_driver.Msi.Messages);
    }

    [Fact]
    public void ThePciCfgWindowReachesTheBarRegisters()
    {
        var window = _driver.Cap(VirtioPciLayout.CapPciConfig).At;
        void Select(uint offset, uint length)
        {
            _driver.ConfigWrite(window + 4, VirtioPciLayout.Bar, 1);
            _driver.ConfigWrite(window + 8, offset);
            _driver.ConfigWrite(window + 12, length);
        }

        // Read num_queues and the first feature word through config space.
        Select(VirtioPciDriver.NumQueues, 2);
        Assert.Equal(1u, _driver.ConfigRead(window + 16));
        Select(VirtioPciDriver.DeviceFeatureSelect, 4);
        _driver.ConfigWrite(window + 16, 1);
        Select(VirtioPciDriver.DeviceFeature, 4);
        Assert.Equal(1u, _driver.ConfigRead(window + 16)); // VERSION_1 in the second word
        Assert.Equal(1UL, _driver.Common(VirtioPciDriver.DeviceFeatureSelect, 4));

        // A byte write to device_status through the window.
        Select(VirtioPciDriver.DeviceStatus, 1);
        _driver.ConfigWrite(window + 16, (uint)VirtioStatus.Acknowledge, 1);
        Assert.Equal(VirtioStatus.Acknowledge, _driver.Status);
        Assert.Equal((uint)VirtioStatus.Acknowledge, _driver.ConfigRead(window + 16) & 0xFF);

        // The window's fields read back; invalid windows (length 3, misaligned, another BAR, past the BAR) do nothing.
        Assert.Equal(VirtioPciDriver.DeviceStatus, (int)_driver.ConfigRead(window + 8));
        Assert.Equal(1u, _driver.ConfigRead(window + 12));
        foreach (var (bar, offset, length) in new (uint, uint, uint)[] { (0, 0x14, 3), (0, 0x13, 2), (1, 0x14, 1), (0, 0x8000, 4), (0, 0xFFFF_FFFC, 4) })
        {
            _driver.ConfigWrite(window + 4, bar, 1);
            _driver.ConfigWrite(window + 8, offset);
            _driver.ConfigWrite(window + 12, length);
            _driver.ConfigWrite(window + 16, 0);
            Assert.Equal(0u, _driver.ConfigRead(window + 16));
            Assert.Equal(VirtioStatus.Acknowledge, _driver.Status);
        }
    }

    [Fact]
    public void DoorbellRegistrationsFollowTheBarWhileTheDeviceRuns()
    {
        using var net = new VirtioPciDriver(new VirtioNet(new FakeNetBackend(), [2, 0, 0, 0, 0, 1]));
        var bar0 = net.Bar0;
        Assert.Empty(net.Doorbells.Registered); // not before DRIVER_OK: early notifies must reach the transport
        net.Start();
        Assert.Equal(
            [(bar0 + 0x3000, 2u), (bar0 + 0x3004, 2u)],
            net.Doorbells.Registered.Select(r => (r.Address, r.Length)));
        var doorbells = net.Doorbells.Registered.Select(r => r.Doorbell).ToArray();
        Assert.NotSame(doorbells[0], doorbells[1]);

        // The guest moves BAR 0: both doorbells move with it.
        var moved = bar0 + (4 * VirtioPciLayout.BarSize);
        net.ConfigWrite(PciConfigSpace.BarOffset(0), (uint)moved);
        Assert.Equal(moved, net.Bar0);
        Assert.Equal([(moved + 0x3000, doorbells[0]), (moved + 0x3004, doorbells[1])], net.Doorbells.Registered.Select(r => (r.Address, r.Doorbell)));
        Assert.Equal(2, net.Doorbells.Unregistrations);
        Assert.Equal(2UL, net.Common(VirtioPciDriver.NumQueues, 2)); // the registers answer at the new address

        // Memory decoding off: no doorbells; back on: at the BAR again.
        net.ConfigWrite(PciConfigSpace.CommandOffset, 0, 2);
        Assert.Empty(net.Doorbells.Registered);
        net.ConfigWrite(PciConfigSpace.CommandOffset, PciConfigSpace.CommandMemorySpace, 2);
        Assert.Equal([moved + 0x3000, moved + 0x3004], net.Doorbells.Registered.Select(r => r.Address));

        // A reset takes them away again.
        net.Status = VirtioStatus.None;
        Assert.Empty(net.Doorbells.Registered);
    }

    [Fact]
    public void NotificationsBeforeDriverOkAreIgnoredAndLoggedOnce()
    {
        Assert.True(_driver.Negotiate(RngFeatures));
        _driver.EnableMsiX();
        var queue = _driver.SetupQueue(RngQueue, 16, RngFeatures, 0);
        var buffer = _driver.Allocate(8);
        queue.Add(new Buffer(buffer, 8, Write: true));
        for (var i = 0; i < 5; i++)
        {
            _driver.Kick(RngQueue);
        }

        Assert.Empty(_driver.Doorbells.Registered); // KVM would not swallow these writes: they reach the transport
        Assert.Equal(0, queue.UsedIndex);
        var message = Assert.Single(_driver.Log);
        Assert.Contains("queue 0 notified before DRIVER_OK", message, StringComparison.Ordinal);

        // Notifying a queue that does not exist is ignored silently.
        _driver.BarWrite(VirtioPciLayout.NotifyOffset + 4, 1, 2);
        Assert.Single(_driver.Log);

        _driver.AddStatus(VirtioStatus.DriverOk);
        Assert.Single(_driver.WaitForUsed(RngQueue, 1));
    }

    [Fact]
    public void AMaskedVectorIsHeldPendingUntilUnmasked()
    {
        _driver.Start(RngFeatures);
        var table = (ulong)VirtioPciLayout.MsiXTableOffset;
        _driver.BarWrite(table + 12, 1, 4); // mask vector 0
        var buffer = _driver.Allocate(8);
        _driver.Queues[RngQueue]!.Add(new Buffer(buffer, 8, Write: true));
        _driver.Kick(RngQueue);
        _driver.WaitForUsed(RngQueue, 1);
        VirtioPciDriver.WaitUntil(() => _driver.BarRead(VirtioPciLayout.MsiXPbaOffset, 8) == 1, "the pending bit");
        Assert.Equal(0, _driver.MsiCount(RngQueue));
        _driver.BarWrite(table + 12, 0, 4);
        Assert.Equal(1, _driver.MsiCount(RngQueue));
        Assert.Equal(0UL, _driver.BarRead(VirtioPciLayout.MsiXPbaOffset, 8));
    }

    [Fact]
    public void AHostileDriverCannotHurtTheHostThroughTheTransport()
    {
        // Random register traffic over the whole BAR and the capability area, then a normal start.
        var random = new Random(1234);
        for (var i = 0; i < 20000; i++)
        {
            var width = 1 << random.Next(4);
            var offset = (ulong)random.Next((int)VirtioPciLayout.BarSize) & ~(ulong)(width - 1);
            if (offset is >= VirtioPciLayout.MsiXTableOffset and < VirtioPciLayout.MsiXPbaOffset && random.Next(2) == 0)
            {
                continue; // leave the MSI-X table mostly alone so vectors stay usable
            }

            if (random.Next(2) == 0)
            {
                _driver.BarWrite(offset, (ulong)random.NextInt64(), width);
            }
            else
            {
                _driver.BarRead(offset, width);
            }
        }

        _driver.Start(RngFeatures);
        AssertRngWorks(1);
    }
}
