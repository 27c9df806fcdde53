using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Devices.Pci;

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
///         Device (RTC)
///         {
///             Name (_HID, EisaId ("PNP0B00"))   // AT real-time clock
///             Name (_CRS, ResourceTemplate () { IO (Decode16, 0x70, 0x70, 1, 2)  IRQNoFlags () { 8 } })
///         }
///         Device (PCI0)   // only when the machine has a PCI bus
///         {
///             Name (_HID, EisaId ("PNP0A08"))   // PCI Express root bridge (so ECAM from MCFG applies)
///             Name (_CID, EisaId ("PNP0A03"))   // compatible: PCI root bridge
///             Name (_SEG, 0)  Name (_BBN, 0)  Name (_UID, 0)
///             Name (_CRS, ResourceTemplate () {
///                 WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
///                 IO (Decode16, 0xCF8, 0xCF8, 1, 8)
///                 WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0, 0xCF7, 0, 0xCF8)
///                 WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0xD00, 0xFFFF, 0, 0xF300)
///                 DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
///                              0, 0xC0000000, 0xDFFFFFFF, 0, 0x20000000)
///             })
///             Name (_CBA, 0xE0000000)           // the ECAM base, as MCFG says (PCI Firmware spec 4.1.5)
///             Name (_PRT, Package () {           // slots 1-31, INTA-INTD: GSI 16 + ((slot + pin) mod 8)
///                 Package () { 0x0001FFFF, 0, 0, 17 }, Package () { 0x0001FFFF, 1, 0, 18 }, ...
///             })
///         }
///         Device (MRES)   // with PCI0
///         {
///             Name (_HID, EisaId ("PNP0C02"))   // motherboard resources: the ECAM window is reserved
///             Name (_UID, 0)
///             Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xE0000000, 0x00100000) })
///         }
///     }
/// }
/// </code>
/// Linux maps an ISA IRQ to its I/O APIC pin only for devices ACPI describes: without RTC here, rtc_cmos fell back to
/// a platform device whose IRQ 8 had never been mapped, and its probe failed (-22).
/// With ACPI, Linux scans only the PCI buses a root bridge device describes; without PCI0 it would never look.
/// The ECAM window is announced four ways, because kernels look in different places: MCFG, _CBA, reserved in the
/// e820 map (what Linux checks while booting) and as a PNP0C02 motherboard resource (what it checks once ACPI is up,
/// and the only place a kernel whose 0xCF8 probe failed will accept); the legacy ports 0xCF8/0xCFC reach the same
/// config space, with a host bridge at 00:00.0 for the port probe's sanity check.
/// Virtio functions use MSI-X; a kernel without MSI (or with <c>pci=nomsi</c>) uses their INTA pins, which _PRT
/// routes straight to GSIs (the MP table says the same for kernels booted with <c>acpi=off</c>).
/// </summary>
public static class Dsdt
{
    public const string Signature = "DSDT";

    /// <summary>Revision 2 and up makes AML integers 64-bit.</summary>
    public const byte Revision = 2;

    public const ushort Com1Port = 0x3F8;
    public const byte Com1PortCount = 8;
    public const byte Com1Irq = 4;
    public const ushort PciConfigPorts = 0xCF8;
    public const ushort RtcPort = 0x70;
    public const byte RtcPortCount = 2;
    public const byte RtcIrq = 8;

    public static byte[] Build(bool pciHostBridge = false)
    {
        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        // SLP_TYPa, SLP_TYPb, two reserved. Hardware-reduced ACPI reads only SLP_TYPa; b matches for any OS that looks.
        writer.Bytes(Aml.Name(@"\_S5", Aml.Package(
            Aml.Integer(AcpiPmRegisters.S5SleepType),
            Aml.Integer(AcpiPmRegisters.S5SleepType),
            Aml.Integer(0),
            Aml.Integer(0))));
        writer.Bytes(pciHostBridge
            ? Aml.Scope(@"\_SB", Com1(), Rtc(), PciHostBridge(), EcamReservation())
            : Aml.Scope(@"\_SB", Com1(), Rtc()));
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

    private static byte[] Rtc() => Aml.Device(
        "RTC",
        Aml.Name("_HID", Aml.EisaId("PNP0B00")),
        Aml.Name("_CRS", Aml.Buffer([
            .. ResourceDescriptors.Io16(RtcPort, RtcPort, 1, RtcPortCount),
            .. ResourceDescriptors.IrqNoFlags(RtcIrq),
            .. ResourceDescriptors.EndTag(),
        ])));

    private static byte[] PciHostBridge()
    {
        var mmioFirst = (uint)MemoryLayout.PciMmioWindowStart;
        var mmioLast = (uint)(MemoryLayout.PciMmioWindowStart + MemoryLayout.PciMmioWindowSize - 1);
        return Aml.Device(
            "PCI0",
            Aml.Name("_HID", Aml.EisaId("PNP0A08")),
            Aml.Name("_CID", Aml.EisaId("PNP0A03")),
            Aml.Name("_SEG", Aml.Integer(0)),
            Aml.Name("_BBN", Aml.Integer(0)),
            Aml.Name("_UID", Aml.Integer(0)),
            Aml.Name("_CRS", Aml.Buffer([
                .. ResourceDescriptors.WordBusNumber(0, MemoryLayout.PciEcamBusCount - 1),
                .. ResourceDescriptors.Io16(PciConfigPorts, PciConfigPorts, 1, 8),
                .. ResourceDescriptors.WordIo(0, PciConfigPorts - 1),
                .. ResourceDescriptors.WordIo(0xD00, 0xFFFF),
                .. ResourceDescriptors.DWordMemory(mmioFirst, mmioLast),
                .. ResourceDescriptors.EndTag(),
            ])),
            Aml.Name("_CBA", Aml.Integer(MemoryLayout.PciEcamBase)),
            Aml.Name("_PRT", PciRoutingTable()));
    }

    /// <summary>
    /// _PRT: for every slot but the host bridge's, INTA-INTD straight to their GSIs (source 0, no link devices), as
    /// <see cref="PciInterruptRouting"/> wires them. A kernel without MSI finds its devices' interrupts here.
    /// </summary>
    private static byte[] PciRoutingTable()
    {
        return Aml.Package([.. PciInterruptRouting.Routes.Select(route => Aml.Package(
            Aml.Integer(((ulong)route.Slot << 16) | 0xFFFF), // any function of the slot
            Aml.Integer((ulong)(route.Pin - PciInterruptRouting.PinA)), // 0 = INTA
            Aml.Integer(0),
            Aml.Integer((ulong)route.Gsi)))]);
    }

    private static byte[] EcamReservation() => Aml.Device(
        "MRES",
        Aml.Name("_HID", Aml.EisaId("PNP0C02")),
        Aml.Name("_UID", Aml.Integer(0)),
        Aml.Name("_CRS", Aml.Buffer([
            .. ResourceDescriptors.Memory32Fixed((uint)MemoryLayout.PciEcamBase, (uint)MemoryLayout.PciEcamSize),
            .. ResourceDescriptors.EndTag(),
        ])));
}
