namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The PCI Express memory-mapped configuration table (PCI Firmware spec 3.x, 4.1.2, signature "MCFG"): one
/// allocation naming the ECAM window of segment 0 and the buses it covers. Pass the bytes to
/// <see cref="AcpiTableBuilder.AddTable"/>. Linux trusts the window only if it is also reserved (e820 or an
/// ACPI motherboard resource); until then it falls back to ports 0xCF8/0xCFC, which serve the same config space.
/// </summary>
public static class Mcfg
{
    public const string Signature = "MCFG";
    public const byte Revision = 1;
    public const int AllocationLength = 16;

    /// <summary>Header, 8 reserved bytes, one allocation.</summary>
    public const int Length = AcpiTableHeader.Length + 8 + AllocationLength;

    /// <summary>The table for the VMM's ECAM window (<see cref="MemoryLayout.PciEcamBase"/>, bus 0 up).</summary>
    public static byte[] Build() => Build(MemoryLayout.PciEcamBase, 0, MemoryLayout.PciEcamBusCount);

    public static byte[] Build(ulong ecamBase, ushort segment, int busCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(busCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(busCount, 256);
        if (ecamBase % MemoryLayout.PciEcamBytesPerBus != 0)
        {
            throw new ArgumentException($"the ECAM base 0x{ecamBase:x} must be 1 MiB aligned", nameof(ecamBase));
        }

        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        writer.Zeros(8); // reserved
        writer.U64(ecamBase);
        writer.U16(segment);
        writer.U8(0); // start bus
        writer.U8((byte)(busCount - 1)); // end bus
        writer.U32(0); // reserved
        return writer.FinishTable();
    }
}
