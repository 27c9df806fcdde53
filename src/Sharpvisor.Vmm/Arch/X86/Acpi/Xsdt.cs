using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>The Extended System Description Table: a header and one 64-bit address per other table.</summary>
public static class Xsdt
{
    public const string Signature = "XSDT";
    public const byte Revision = 1;

    public static int LengthFor(int entryCount) => AcpiTableHeader.Length + (entryCount * sizeof(ulong));

    public static byte[] Build(IEnumerable<GuestAddress> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        foreach (var table in tables)
        {
            writer.U64(table.Value);
        }

        return writer.FinishTable();
    }
}
