using Sharpvisor.Vmm.Devices.Acpi;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The Differentiated System Description Table: the AML namespace. It holds <c>\_S5</c>, which tells the guest
/// the SLP_TYP value for soft-off, and describes COM1 so the guest binds its serial driver to the port and IRQ
/// the machine wires. Equivalent ASL:
/// <code>
/// DefinitionBlock ("", "DSDT", 2, "SHARPV", "SVDSDT", 1)
/// {
///     Name (\_S5, Package (4) { 5, 5, 0, 0 })
///     Scope (\_SB)
///     {
///         Device (COM1)
///         {
///             Name (_HID, EisaId ("PNP0501"))
///             Name (_UID, 0)
///             Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8)  IRQNoFlags () { 4 } })
///         }
///     }
/// }
/// </code>
/// </summary>
public static class Dsdt
{
    public const string Signature = "DSDT";

    /// <summary>Revision 2 and up makes AML integers 64-bit.</summary>
    public const byte Revision = 2;

    public const ushort Com1Port = 0x3F8;
    public const byte Com1PortCount = 8;
    public const byte Com1Irq = 4;

    public static byte[] Build()
    {
        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        // SLP_TYPa, SLP_TYPb, two reserved. Hardware-reduced ACPI reads only SLP_TYPa; b matches for any OS that looks.
        writer.Bytes(Aml.Name(@"\_S5", Aml.Package(
            Aml.Integer(AcpiPmRegisters.S5SleepType),
            Aml.Integer(AcpiPmRegisters.S5SleepType),
            Aml.Integer(0),
            Aml.Integer(0))));
        writer.Bytes(Aml.Scope(@"\_SB", Com1()));
        return writer.FinishTable();
    }

    private static byte[] Com1() => Aml.Device(
        "COM1",
        Aml.Name("_HID", Aml.EisaId("PNP0501")),
        Aml.Name("_UID", Aml.Integer(0)),
        Aml.Name("_CRS", Aml.Buffer([
            .. ResourceDescriptors.Io16(Com1Port, Com1Port, 1, Com1PortCount),
            .. ResourceDescriptors.IrqNoFlags(Com1Irq),
            .. ResourceDescriptors.EndTag(),
        ])));
}
