using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Acpi;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Acpi;

/// <summary>Byte layout at the offsets the ACPI 6.3 specification gives, read back from guest memory.</summary>
public sealed class AcpiTableLayoutTests : IDisposable
{
    private const ulong MiB = 1UL << 20;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 16 * MiB)]);

    public void Dispose() => _memory.Dispose();

    public static TheoryData<int> VcpuCounts => [1, 2, 16, 255, 256, 1024];

    private byte[] Read(ulong address, int length) => _memory.GetSpan(new GuestAddress(address), length).ToArray();

    private string Ascii(ulong address, int length) => Encoding.ASCII.GetString(Read(address, length));

    private byte U8(ulong address) => Read(address, 1)[0];

    private ushort U16(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(Read(address, 2));

    private uint U32(ulong address) => BinaryPrimitives.ReadUInt32LittleEndian(Read(address, 4));

    private ulong U64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(Read(address, 8));

    private static int Sum(byte[] bytes) => bytes.Sum(b => b) & 0xFF;

    /// <summary>Checks a standard header at <paramref name="address"/> and returns the table's bytes.</summary>
    private byte[] Table(ulong address, string signature, byte revision)
    {
        Assert.Equal(signature, Ascii(address, 4));
        var length = (int)U32(address + 4);
        Assert.Equal(revision, U8(address + 8));
        Assert.Equal("SHARPV", Ascii(address + 10, 6));
        Assert.Equal($"SV{signature}  ", Ascii(address + 16, 8));
        Assert.Equal(1u, U32(address + 24));
        Assert.Equal("SHRP", Ascii(address + 28, 4));
        var bytes = Read(address, length);
        Assert.Equal(0, Sum(bytes));
        return bytes;
    }

    private ulong WriteTables(int vcpus) => new AcpiTableBuilder(vcpus).WriteTo(_memory).Value;

    [Fact]
    public void TheTablesLiveInTheBiosAreaWhereALegacyScanLooks()
    {
        Assert.Equal(0xE_0000UL, MemoryLayout.AcpiTables.Value);
        Assert.Equal(0x2_0000UL, MemoryLayout.AcpiTablesSize);
        Assert.Equal(0xE_0000UL, WriteTables(1));

        // Inside the range the e820 map reports reserved, so the guest never hands it out as RAM.
        var layout = new MemoryLayout(256 * MiB, 40);
        Assert.Contains(layout.E820Map, e => e.Type == E820Type.Reserved
            && e.Start <= MemoryLayout.AcpiTables && e.End >= MemoryLayout.AcpiTables + MemoryLayout.AcpiTablesSize);
    }

    [Fact]
    public void RsdpIsRevisionTwoWithBothChecksumsAndTheXsdtAddress()
    {
        var rsdp = WriteTables(2);

        Assert.Equal(0UL, rsdp % 16);
        Assert.Equal("RSD PTR ", Ascii(rsdp, 8));
        Assert.Equal(0, Sum(Read(rsdp, 20)));
        Assert.Equal("SHARPV", Ascii(rsdp + 9, 6));
        Assert.Equal(2, U8(rsdp + 15));
        Assert.Equal(0u, U32(rsdp + 16)); // no RSDT
        Assert.Equal(36u, U32(rsdp + 20));
        Assert.Equal(0, Sum(Read(rsdp, 36)));
        Assert.Equal(new byte[3], Read(rsdp + 33, 3));
        Table(U64(rsdp + 24), "XSDT", 1);
    }

    [Fact]
    public void XsdtListsTheFadtAndMadt()
    {
        var xsdt = U64(WriteTables(2) + 24);

        var bytes = Table(xsdt, "XSDT", 1);

        Assert.Equal(36 + (2 * 8), bytes.Length);
        Table(U64(xsdt + 36), "FACP", 6);
        Table(U64(xsdt + 44), "APIC", 5);
    }

    [Fact]
    public void FadtIsHardwareReducedWithResetAndSleepRegisters()
    {
        var fadt = U64(U64(WriteTables(2) + 24) + 36);

        var bytes = Table(fadt, "FACP", 6);

        Assert.Equal(276, bytes.Length);
        Assert.Equal(3, U8(fadt + 131)); // minor version: ACPI 6.3
        Assert.Equal((1u << 20) | (1u << 10), U32(fadt + 112)); // HW_REDUCED_ACPI | RESET_REG_SUP
        Assert.Equal(0x0006, U16(fadt + 109)); // IAPC_BOOT_ARCH: 8042, no VGA
        Assert.Equal(0, U16(fadt + 46)); // SCI_INT
        Assert.Equal(0u, U32(fadt + 36)); // FIRMWARE_CTRL: no FACS
        Assert.Equal(0UL, U64(fadt + 132)); // X_FIRMWARE_CTRL
        Assert.All(Read(fadt + 48, 109 - 48), b => Assert.Equal(0, b)); // SMI_CMD .. CENTURY: no fixed hardware
        Assert.All(Read(fadt + 148, 8 * 12), b => Assert.Equal(0, b)); // X_PM1a_EVT_BLK .. X_GPE1_BLK

        Assert.Equal([1, 8, 0, 1], Read(fadt + 116, 4)); // RESET_REG: SystemIO, 8 bits, offset 0, byte access
        Assert.Equal(0x602UL, U64(fadt + 120));
        Assert.Equal(0x01, U8(fadt + 128)); // RESET_VALUE
        Assert.Equal([1, 8, 0, 1], Read(fadt + 244, 4)); // SLEEP_CONTROL_REG
        Assert.Equal(0x600UL, U64(fadt + 248));
        Assert.Equal([1, 8, 0, 1], Read(fadt + 256, 4)); // SLEEP_STATUS_REG
        Assert.Equal(0x601UL, U64(fadt + 260));

        var dsdt = U64(fadt + 140); // X_DSDT
        Assert.Equal((uint)dsdt, U32(fadt + 40));
        Table(dsdt, "DSDT", 2);
    }

    [Fact]
    public void DsdtDeclaresS5WithThePowerOffSleepType()
    {
        var dsdt = Dsdt.Build();

        // Name (\_S5_, Package (4) { 5, 5, Zero, Zero }) as AML: NameOp, name, PackageOp, PkgLength 8, 4 elements.
        byte[] s5 = [0x08, (byte)'\\', (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00];
        Assert.Equal(s5, dsdt.AsSpan(36, s5.Length).ToArray());
        Assert.Equal(5, Sharpvisor.Vmm.Devices.Acpi.AcpiPmRegisters.S5SleepType);
    }

    [Theory]
    [MemberData(nameof(VcpuCounts))]
    public void MadtHasOneProcessorEntryPerVcpuAndTheIoApic(int vcpus)
    {
        var madt = U64(U64(WriteTables(vcpus) + 24) + 44);
        var bytes = Table(madt, "APIC", 5);

        Assert.Equal(0xFEE0_0000u, U32(madt + 36));
        Assert.Equal(0u, U32(madt + 40)); // no PCAT_COMPAT: there is no 8259
        Assert.Equal(Madt.LengthFor(vcpus), bytes.Length);

        var entries = new List<(byte Type, ulong At)>();
        for (var offset = 44UL; offset < (ulong)bytes.Length; offset += U8(madt + offset + 1))
        {
            entries.Add((U8(madt + offset), madt + offset));
        }

        var xapic = entries.Where(e => e.Type == 0).ToArray();
        var x2apic = entries.Where(e => e.Type == 9).ToArray();
        Assert.Equal(Math.Min(vcpus, 255), xapic.Length);
        Assert.Equal(Math.Max(vcpus - 255, 0), x2apic.Length);
        for (var i = 0; i < xapic.Length; i++)
        {
            Assert.Equal(8, U8(xapic[i].At + 1));
            Assert.Equal(i, U8(xapic[i].At + 2)); // processor UID
            Assert.Equal(i, U8(xapic[i].At + 3)); // APIC ID
            Assert.Equal(1u, U32(xapic[i].At + 4)); // enabled
        }

        for (var i = 0; i < x2apic.Length; i++)
        {
            Assert.Equal(16, U8(x2apic[i].At + 1));
            Assert.Equal((uint)(255 + i), U32(x2apic[i].At + 4)); // x2APIC ID
            Assert.Equal(1u, U32(x2apic[i].At + 8)); // enabled
            Assert.Equal((uint)(255 + i), U32(x2apic[i].At + 12)); // processor UID
        }

        var ioApic = Assert.Single(entries, e => e.Type == 1).At;
        Assert.Equal([1, 12, 0, 0], Read(ioApic, 4)); // ID 0
        Assert.Equal(0xFEC0_0000u, U32(ioApic + 4));
        Assert.Equal(0u, U32(ioApic + 8)); // GSI base

        var iso = Assert.Single(entries, e => e.Type == 2).At;
        Assert.Equal([2, 10, 0, 0], Read(iso, 4)); // bus ISA, IRQ 0
        Assert.Equal(2u, U32(iso + 4)); // -> GSI 2
        Assert.Equal(0x0005, U16(iso + 8)); // active high, edge

        var nmi = Assert.Single(entries, e => e.Type == 4).At;
        Assert.Equal([4, 6, 0xFF], Read(nmi, 3)); // all processors
        Assert.Equal(0x0005, U16(nmi + 3));
        Assert.Equal(1, U8(nmi + 5)); // LINT1

        var x2Nmi = entries.Where(e => e.Type == 10).ToArray();
        Assert.Equal(vcpus > 255 ? 1 : 0, x2Nmi.Length);
        foreach (var (_, at) in x2Nmi)
        {
            Assert.Equal(12, U8(at + 1));
            Assert.Equal(0x0005, U16(at + 2));
            Assert.Equal(0xFFFF_FFFFu, U32(at + 4)); // all processors
            Assert.Equal(1, U8(at + 8)); // LINT1
        }

        Assert.Equal(xapic.Length + x2apic.Length + 3 + x2Nmi.Length, entries.Count);
    }

    [Fact]
    public void A1024VcpuSetFitsTheRegionWithRoomToSpare()
    {
        var set = new AcpiTableBuilder(1024).Build(MemoryLayout.AcpiTables);

        Assert.True(set.Size < MemoryLayout.AcpiTablesSize / 4, $"0x{set.Size:x} bytes");
        Assert.Equal(14428, set["APIC"].Bytes.Length);
    }

    [Fact]
    public void TablesDoNotOverlapAndStayAligned()
    {
        var tables = new AcpiTableBuilder(300).Build(MemoryLayout.AcpiTables).Tables;

        Assert.Equal(["RSDP", "XSDT", "FACP", "DSDT", "APIC"], tables.Select(t => t.Signature));
        Assert.All(tables, t => Assert.Equal(0UL, t.Address.Value % 16));
        for (var i = 1; i < tables.Count; i++)
        {
            Assert.True(tables[i].Address.Value >= tables[i - 1].Address.Value + (ulong)tables[i - 1].Bytes.Length);
        }
    }

    [Fact]
    public void ARegionTooSmallIsRefused()
    {
        var builder = new AcpiTableBuilder(1024);

        Assert.Throws<InvalidOperationException>(() => builder.WriteTo(_memory, MemoryLayout.AcpiTables, 0x1000));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1025)]
    public void VcpuCountsOutsideOneTo1024AreRefused(int vcpus)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new AcpiTableBuilder(vcpus));
        Assert.Throws<ArgumentOutOfRangeException>(() => Madt.Build(vcpus));
    }

    [Fact]
    public void AnUnalignedBaseIsRefused() =>
        Assert.Throws<ArgumentException>(() => new AcpiTableBuilder(1).Build(new GuestAddress(0xE_0008)));

    [Fact]
    public void AnAddedTableIsPlacedAndListedInTheXsdt()
    {
        var mcfg = FakeTable("MCFG", 60);

        var rsdp = new AcpiTableBuilder(2).AddTable(mcfg).WriteTo(_memory).Value;

        var xsdt = U64(rsdp + 24);
        Assert.Equal(36 + (3 * 8), Table(xsdt, "XSDT", 1).Length);
        Assert.Equal(mcfg, Read(U64(xsdt + 52), mcfg.Length));
    }

    [Fact]
    public void AnAddedTableWithABadChecksumIsRefused()
    {
        var table = FakeTable("MCFG", 60);
        table[20]++;

        Assert.Throws<ArgumentException>(() => new AcpiTableBuilder(1).AddTable(table));
    }

    private static byte[] FakeTable(string signature, int length)
    {
        var table = new byte[length];
        Encoding.ASCII.GetBytes(signature).CopyTo(table, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(4), (uint)length);
        table[8] = 1;
        table[20] = 0x42;
        table[9] = AcpiChecksum.Compute(table, 9);
        return table;
    }
}
