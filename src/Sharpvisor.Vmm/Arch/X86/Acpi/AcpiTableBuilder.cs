using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>One table placed in guest memory.</summary>
public sealed record AcpiPlacedTable(string Signature, GuestAddress Address, byte[] Bytes);

/// <summary>Every table laid out from one base address, ready to be written into guest memory.</summary>
public sealed class AcpiTableSet(GuestAddress rsdpAddress, IReadOnlyList<AcpiPlacedTable> tables, ulong size)
{
    public GuestAddress RsdpAddress { get; } = rsdpAddress;

    /// <summary>RSDP first, then XSDT, FADT, DSDT, MADT and any extra tables, in address order.</summary>
    public IReadOnlyList<AcpiPlacedTable> Tables { get; } = tables;

    /// <summary>Bytes from the base address to the end of the last table.</summary>
    public ulong Size { get; } = size;

    /// <summary>The first table with <paramref name="signature"/> ("RSDP" for the RSDP).</summary>
    public AcpiPlacedTable this[string signature] => Tables.First(t => t.Signature == signature);
}

/// <summary>
/// Builds the ACPI tables a Linux guest needs to find every vCPU and the I/O APIC, and to power off and reboot:
/// RSDP, XSDT, FADT (hardware-reduced), DSDT and MADT. More XSDT-listed tables (MCFG once there is PCIe) are
/// added with <see cref="AddTable"/>.
/// </summary>
public sealed class AcpiTableBuilder
{
    /// <summary>Tables start 16-byte aligned: the RSDP must be, and the rest are kept so for tidy dumps.</summary>
    private const int TableAlignment = 16;

    private readonly List<byte[]> _extraTables = [];

    public AcpiTableBuilder(int vcpuCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vcpuCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vcpuCount, Madt.MaxVcpus);
        VcpuCount = vcpuCount;
    }

    public int VcpuCount { get; }

    /// <summary>Describe a PCI root bridge (PCI0) in the DSDT; set when the machine has a PCI bus.</summary>
    public bool PciHostBridge { get; init; }

    /// <summary>
    /// Adds a complete, address-independent table (header, length and checksum already right) to be placed after
    /// the built-in ones and listed in the XSDT. The hook for MCFG and friends.
    /// </summary>
    public AcpiTableBuilder AddTable(byte[] table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Length < AcpiTableHeader.Length
            || System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(AcpiTableHeader.LengthOffset)) != (uint)table.Length
            || !AcpiChecksum.IsValid(table))
        {
            throw new ArgumentException("not a complete ACPI table: short, wrong length field, or bad checksum", nameof(table));
        }

        _extraTables.Add([.. table]);
        return this;
    }

    /// <summary>Lays every table out from <paramref name="baseAddress"/> (16-byte aligned), the RSDP first.</summary>
    public AcpiTableSet Build(GuestAddress baseAddress)
    {
        if (baseAddress.Value % Rsdp.Alignment != 0)
        {
            throw new ArgumentException($"the RSDP must be {Rsdp.Alignment}-byte aligned; {baseAddress} is not", nameof(baseAddress));
        }

        var dsdt = Dsdt.Build(PciHostBridge);
        var madt = Madt.Build(VcpuCount);
        var xsdtEntryCount = 2 + _extraTables.Count; // FADT, MADT, extras; the DSDT hangs off the FADT

        var offset = 0UL;
        GuestAddress Place(int length)
        {
            var address = baseAddress + offset;
            offset = AlignUp(offset + (ulong)length);
            return address;
        }

        var rsdpAddress = Place(Rsdp.Length);
        var xsdtAddress = Place(Xsdt.LengthFor(xsdtEntryCount));
        var fadtAddress = Place(Fadt.Length);
        var dsdtAddress = Place(dsdt.Length);
        var madtAddress = Place(madt.Length);
        var extraAddresses = _extraTables.Select(t => Place(t.Length)).ToArray();

        var tables = new List<AcpiPlacedTable>
        {
            new("RSDP", rsdpAddress, Rsdp.Build(xsdtAddress)),
            new(Xsdt.Signature, xsdtAddress, Xsdt.Build([fadtAddress, madtAddress, .. extraAddresses])),
            new(Fadt.Signature, fadtAddress, Fadt.Build(dsdtAddress)),
            new(Dsdt.Signature, dsdtAddress, dsdt),
            new(Madt.Signature, madtAddress, madt),
        };
        for (var i = 0; i < _extraTables.Count; i++)
        {
            tables.Add(new AcpiPlacedTable(SignatureOf(_extraTables[i]), extraAddresses[i], _extraTables[i]));
        }

        var last = tables[^1];
        return new AcpiTableSet(rsdpAddress, tables, last.Address - baseAddress + (ulong)last.Bytes.Length);
    }

    /// <summary>
    /// Builds the tables at <paramref name="baseAddress"/>, checks they fit in <paramref name="regionSize"/> bytes,
    /// writes them into guest memory and returns the RSDP address (for the PVH start info's rsdp_paddr).
    /// </summary>
    public GuestAddress WriteTo(GuestMemory memory, GuestAddress baseAddress, ulong regionSize)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var set = Build(baseAddress);
        if (set.Size > regionSize)
        {
            throw new InvalidOperationException($"ACPI tables need 0x{set.Size:x} bytes but the region at {baseAddress} holds 0x{regionSize:x}");
        }

        foreach (var table in set.Tables)
        {
            memory.Write(table.Address, table.Bytes);
        }

        return set.RsdpAddress;
    }

    /// <summary>Writes the tables into the BIOS area reserved for them (<see cref="MemoryLayout.AcpiTables"/>).</summary>
    public GuestAddress WriteTo(GuestMemory memory) => WriteTo(memory, MemoryLayout.AcpiTables, MemoryLayout.AcpiTablesSize);

    private static ulong AlignUp(ulong value) => (value + TableAlignment - 1) & ~(ulong)(TableAlignment - 1);

    private static string SignatureOf(byte[] table) => System.Text.Encoding.ASCII.GetString(table, 0, 4);
}
