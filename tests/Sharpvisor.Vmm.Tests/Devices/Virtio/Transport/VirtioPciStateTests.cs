using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Legacy;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Net;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

/// <summary>
/// The virtio-pci function's saved state around virtio-rng (one queue, two MSI-X vectors, no config): what the PCI side
/// carries (BAR placement, doorbells, MSI-X masks and pending bits, INTx), the transport's states, and hostile sections.
/// </summary>
public sealed class VirtioPciStateTests : IDisposable
{
    private const int Queue = 0;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly List<VirtioPciDriver> _drivers = [];

    public void Dispose()
    {
        foreach (var driver in _drivers)
        {
            driver.Dispose();
        }
    }

    /// <summary>Where the fields of an rng function's section are: one queue, two vectors, 256 bytes of config space.</summary>
    private static class At
    {
        public const int Type = 0;
        public const int QueueCount = 2;
        public const int MaxSize = 4;
        public const int ConfigLength = 6;
        public const int Config = 10;
        public const int Vectors = Config + PciConfigSpace.Size;
        public const int Table = Vectors + 4;
        public const int Pending = Table + (2 * MsiXTable.EntrySize);
        public const int Isr = Pending + 8;
        public const int NeedsReset = Isr + 1;
        public const int DriverFeatures = NeedsReset + 1 + 8;
        public const int ConfigVector = DriverFeatures + 8;
        public const int Status = ConfigVector + 2;
        public const int QueueSize = Status + 1 + 2;
        public const int QueueVector = QueueSize + 2;
        public const int QueueEnabled = QueueVector + 2;
        public const int Running = QueueEnabled + 1 + 24;
        public const int NextAvailable = Running + 1;
        public const int NextUsed = NextAvailable + 2;
        public const int Backend = NextUsed + 4;
        public const int Own = Backend + 4;
        public const int End = Own + 4;
    }

    private VirtioPciDriver Track(VirtioPciDriver driver)
    {
        _drivers.Add(driver);
        return driver;
    }

    private VirtioPciDriver Rng() => Track(new VirtioPciDriver(new VirtioRng()));

    private RecordingInterruptLine Inta(VirtioPciDriver driver) => driver.Machine.GsiLines[PciInterruptRouting.Gsi(driver.Slot, PciInterruptRouting.PinA)];

    /// <summary>An rng function its driver started (MSI-X, EVENT_IDX) that has served one request, quiesced.</summary>
    private VirtioPciDriver QuiescedRng()
    {
        var driver = Rng();
        driver.Start();
        Fill(driver, 1);
        driver.Transport.Quiesce(Deadline);
        return driver;
    }

    private static void Fill(VirtioPciDriver driver, ushort usedIndex)
    {
        driver.Queues[Queue]!.Add(new Buffer(driver.Allocate(32), 32, Write: true));
        driver.Kick(Queue);
        Assert.Equal(32u, Assert.Single(driver.WaitForUsed(Queue, usedIndex)).Length);
    }

    private static StateSection With(StateSection section, int offset, int width, ulong value)
    {
        var payload = (byte[])section.Payload.Clone();
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        bytes[..width].CopyTo(payload.AsSpan(offset));
        return section with { Payload = payload };
    }

    [Fact]
    public void TheSectionIsTaggedWithTheSlotAndLaidOutAsDocumented()
    {
        var source = QuiescedRng();
        var section = Save(source.Transport);

        Assert.Equal("VP01", source.Transport.StateTag);
        Assert.Equal(2u, source.Transport.StateVersion);
        Assert.Equal(At.End, section.Payload.Length);
        Assert.Equal((ushort)VirtioDeviceType.Entropy, BinaryPrimitives.ReadUInt16LittleEndian(section.Payload.AsSpan(At.Type)));
        Assert.Equal(PciConfigSpace.Size, BinaryPrimitives.ReadInt32LittleEndian(section.Payload.AsSpan(At.ConfigLength)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(At.Vectors)));
        Assert.Equal((byte)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk), section.Payload[At.Status]);
        Assert.Equal(1, section.Payload[At.Running]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(section.Payload.AsSpan(At.NextAvailable)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(At.Own)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(At.Backend)));
    }

    [Fact]
    public void TheBackendIsSavedAndAnotherOneAtTheRestoreIsKnown()
    {
        var source = Track(new VirtioPciDriver(new VirtioRng(), backend: "file /srv/rng.img read-write"));
        source.Start();
        Fill(source, 1);
        source.Transport.Quiesce(Deadline);
        var section = Save(source.Transport);
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(At.Backend));
        Assert.Equal("file /srv/rng.img read-write", System.Text.Encoding.UTF8.GetString(section.Payload.AsSpan(At.Backend + 4, length)));

        var moved = Track(new VirtioPciDriver(new VirtioRng(), backend: "file /mnt/rng.img read-write"));
        Assert.Null(moved.Transport.SavedBackend);
        moved.Transport.RestoreState(section);
        Assert.Equal("file /srv/rng.img read-write", moved.Transport.SavedBackend);
        Assert.Equal("file /mnt/rng.img read-write", moved.Transport.Backend);
    }

    [Fact]
    public void AVersion1SectionWithoutTheBackendIsStillRestored()
    {
        var source = QuiescedRng();
        var saved = Save(source.Transport);
        byte[] withoutBackend = [.. saved.Payload.AsSpan(0, At.Backend), .. saved.Payload.AsSpan(At.Own)];
        var restored = Track(source.CopyGuestTo(new VirtioRng()));

        restored.Transport.RestoreState(saved with { Version = 1, Payload = withoutBackend });

        Assert.Null(restored.Transport.SavedBackend);
        Fill(restored, 2); // it goes on serving where it was
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE }, "section VP01: the backend is not UTF-8 text")]
    [InlineData(new byte[] { (byte)'t', (byte)'a', (byte)'p', 10, (byte)'x' }, "section VP01: the backend holds control characters")]
    [InlineData(null, "section VP01: a field of 4097 bytes is longer than its limit of 4096")]
    public void AHostileBackendIsRefused(byte[]? backend, string expected)
    {
        var saved = Save(QuiescedRng().Transport);
        var bytes = backend ?? new byte[4097];
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)bytes.Length);
        byte[] payload = [.. saved.Payload.AsSpan(0, At.Backend), .. length, .. bytes, .. saved.Payload.AsSpan(At.Own)];

        AssertRefused(Rng().Transport, saved with { Payload = payload }, expected);
    }

    [Fact]
    public void ARunningFunctionIsSavedOnlyQuiesced()
    {
        var driver = Rng();
        driver.Start();
        Assert.Throws<InvalidOperationException>(() => driver.Transport.SaveState(new StatePayload()));

        driver.Transport.Quiesce(Deadline);
        driver.Transport.SaveState(new StatePayload());
        driver.Transport.Unquiesce();
        Assert.Throws<InvalidOperationException>(() => driver.Transport.SaveState(new StatePayload()));
        Fill(driver, 1); // and it goes on
    }

    [Fact]
    public void TheRestoredFunctionDecodesWhereTheGuestMovedItsBarAndHasItsDoorbellThere()
    {
        var source = Rng();
        var placed = source.Bar0;
        var moved = placed + 0x10_0000;
        source.ConfigWrite(PciConfigSpace.BarOffset(0), (uint)moved);
        Assert.Equal(moved, source.Bar0);
        source.Start();
        Fill(source, 1);
        source.Transport.Quiesce(Deadline);

        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        Assert.Equal(placed, restored.Bar0);
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.Equal(moved, restored.Bar0);
        Assert.Equal([moved + VirtioPciLayout.NotifyOffset], restored.Doorbells.Registered.Select(r => r.Address));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk, restored.Status);
        restored.Queues[Queue]!.SetUsedEvent(1); // EVENT_IDX: interrupt me when the next buffer is used
        Fill(restored, 2);
        restored.WaitForMsi(Queue, 1);
    }

    [Fact]
    public void AVectorPendingBehindItsMaskIsStillPendingAfterTheRestoreAndGoesOutOnUnmask()
    {
        var source = Rng();
        source.Start();
        var control = VirtioPciLayout.MsiXTableOffset + (ulong)(MsiXTable.EntrySize * Queue) + 12;
        source.BarWrite(control, 1, 4); // the driver masks the queue's vector
        Fill(source, 1);
        Assert.Equal(1UL, source.BarRead(VirtioPciLayout.MsiXPbaOffset, 8));
        Assert.Equal(0, source.MsiCount(Queue));
        source.Transport.Quiesce(Deadline);

        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.Equal(1UL, restored.BarRead(VirtioPciLayout.MsiXPbaOffset, 8));
        Assert.Equal(1UL, restored.BarRead(control, 4));
        Assert.Equal(0, restored.MsiCount(Queue));
        restored.BarWrite(control, 0, 4);
        Assert.Equal(1, restored.MsiCount(Queue));
        Assert.Equal(0UL, restored.BarRead(VirtioPciLayout.MsiXPbaOffset, 8));
    }

    [Fact]
    public void WithoutMsiXTheRestoredFunctionRaisesIntaForWhatTheIsrHolds()
    {
        var source = Rng();
        source.Start(VirtioFeatures.Version1, msix: false);
        Fill(source, 1);
        VirtioPciDriver.WaitUntil(() => Inta(source).IsAsserted, "INTA to rise");
        source.Transport.Quiesce(Deadline);

        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        Assert.False(Inta(restored).IsAsserted);
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.True(Inta(restored).IsAsserted);
        Assert.Equal(1, restored.ReadIsr());
        Assert.False(Inta(restored).IsAsserted);
        Assert.Empty(restored.Msi.Messages);
    }

    [Fact]
    public void AFunctionItsDriverHasNotStartedRestoresIdleAndStartsAfterwards()
    {
        var source = Rng();
        source.Transport.Quiesce(Deadline);
        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.Equal(VirtioStatus.None, restored.Status);
        Assert.Empty(restored.Doorbells.Registered);
        restored.Start();
        Fill(restored, 1);
    }

    [Fact]
    public void AFunctionThatNeedsAResetStillNeedsOneAfterTheRestore()
    {
        var source = Rng();
        Assert.True(source.Negotiate(source.OfferedFeatures));
        source.SetupQueue(Queue, 16, VirtioPciDriver.RamSize + 0x1000, 0x2000, 0x3000, VirtioPciLayout.NoVector);
        source.AddStatus(VirtioStatus.DriverOk);
        Assert.True(source.Status.HasFlag(VirtioStatus.NeedsReset));

        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        restored.Transport.RestoreState(Save(source.Transport)); // not running: saved without a quiesce

        Assert.True(restored.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Empty(restored.Doorbells.Registered);
        restored.Start();
        Fill(restored, 1);
    }

    [Fact]
    public void AFunctionWhoseDeviceThreadGaveUpOnABadChainQuiescesAtOnceAndStillNeedsAResetAfterTheRestore()
    {
        var source = Rng();
        source.Start();
        source.Queues[Queue]!.Add(new Buffer(VirtioPciDriver.RamSize + 0x1000, 64, Write: true)); // outside RAM
        source.Kick(Queue);
        source.WaitForNeedsReset();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        source.Transport.Quiesce(Deadline);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), "the quiesce waited for a thread that had ended");
        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        restored.Transport.RestoreState(Save(source.Transport));

        Assert.True(restored.Status.HasFlag(VirtioStatus.NeedsReset));
        Assert.Empty(restored.Doorbells.Registered);
        restored.Start();
        Fill(restored, 1);
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(Rng().Transport, Save(QuiescedRng().Transport));

    [Fact]
    public void ASectionOfAnotherKindOfDeviceIsRefused()
    {
        var net = Track(new VirtioPciDriver(new VirtioNet(new FakeNetBackend(), [2, 0, 0, 0, 0, 1])));
        net.Transport.Quiesce(Deadline);

        AssertRefused(Rng().Transport, Save(net.Transport), "section VP01: the section is of a virtio net function, this slot holds a virtio entropy one");
    }

    [Theory]
    [InlineData(At.Type, 2, 9, "the section is of a virtio type 9 function")]
    [InlineData(At.QueueCount, 2, 2, "a function of 2 queues, this one has 1")]
    [InlineData(At.MaxSize, 2, 128, "queue 0 holds up to 128 entries, this function's 64")]
    [InlineData(At.ConfigLength, 4, 255, "config space of 255 bytes, this function's has 256")]
    [InlineData(At.Config, 1, 0, "config space byte 0x000 is 0x00 where this function has 0xf4")]
    [InlineData(At.Config + PciConfigSpace.InterruptPinOffset, 1, 2, "config space byte 0x03d is 0x02")]
    [InlineData(At.Vectors, 4, 3, "an MSI-X table of 3 vectors, this function's has 2")]
    [InlineData(At.Table, 4, 0xFEE0_0001, "MSI-X vector 0 dword 0 is 0xfee00001")]
    [InlineData(At.Table + MsiXTable.EntrySize + 12, 4, 3, "MSI-X vector 1 dword 3 is 0x00000003")]
    [InlineData(At.Pending, 8, 4, "MSI-X pending bits 0x0000000000000004 name vectors past the table's 2")]
    [InlineData(At.Isr, 1, 4, "ISR 0x04 sets bits other than queue and config")]
    [InlineData(At.NeedsReset, 1, 2, "2 is not a boolean")]
    [InlineData(At.DriverFeatures, 8, 0x1_0000_0080, "driver features 0x0000000100000080 were accepted, but this function offers")]
    [InlineData(At.DriverFeatures, 8, 0x1000_0000, "driver features 0x0000000010000000 were accepted")]
    [InlineData(At.ConfigVector, 2, 2, "config MSI-X vector 2 is neither one of the function's 2 nor NO_VECTOR")]
    [InlineData(At.Status, 1, 0x4F, "device status 0x4f holds NEEDS_RESET")]
    [InlineData(At.Status, 1, 0x07, "device status 0x07 has DRIVER_OK without FEATURES_OK")]
    [InlineData(At.QueueSize, 2, 3, "queue 0 is in use with size 3, not a power of two up to its 64")]
    [InlineData(At.QueueSize, 2, 128, "queue 0 is in use with size 128")]
    [InlineData(At.QueueVector, 2, 0xFFFE, "queue 0 MSI-X vector 65534 is neither")]
    [InlineData(At.QueueEnabled, 1, 0, "queue 0 has ring state but does not run")]
    [InlineData(At.Running, 1, 0, "queue 0 runs but has no ring state")]
    [InlineData(At.NextAvailable, 2, 3, "queue 0 has 2 chains in flight (next available 3, next used 1)")]
    [InlineData(At.Own, 4, 1, "is truncated")]
    public void FieldsOutOfRangeAreRefused(int offset, int width, ulong value, string expected) =>
        AssertRefused(Rng().Transport, With(Save(QuiescedRng().Transport), offset, width, value), expected);

    [Fact]
    public void StateForADeviceWithNoneOfItsOwnIsRefused()
    {
        var section = With(Save(QuiescedRng().Transport), At.Own, 4, 1);

        AssertRefused(Rng().Transport, section with { Payload = [.. section.Payload, 0x5A] }, "section VP01: 1 bytes left over after its last field");
    }

    [Fact]
    public void QueuesTheDeviceDoesNotRunKeepWhateverTheDriverWrote()
    {
        // A driver may leave any size in a queue it has not started; the device checks it when DRIVER_OK comes.
        var source = Rng();
        Assert.True(source.Negotiate(source.OfferedFeatures));
        source.SetCommon(VirtioPciDriver.QueueSelect, Queue, 2);
        source.SetCommon(VirtioPciDriver.QueueSize, 1000, 2);
        var restored = Track(source.CopyGuestTo(new VirtioRng()));
        restored.Transport.RestoreState(Save(source.Transport));

        restored.SetCommon(VirtioPciDriver.QueueSelect, Queue, 2);
        Assert.Equal(1000UL, restored.Common(VirtioPciDriver.QueueSize, 2));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk, restored.Status);
    }
}
