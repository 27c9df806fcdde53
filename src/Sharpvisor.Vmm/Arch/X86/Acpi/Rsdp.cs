using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The Root System Description Pointer, revision 2 (ACPI 6.x, 5.2.5.3): 36 bytes pointing at the XSDT only
/// (RsdtAddress zero). Two checksums: one over the first 20 bytes (the ACPI 1.0 structure), one over all 36.
/// Must sit on a 16-byte boundary for a guest's legacy scan of 0xE0000-0xFFFFF to find it.
/// </summary>
public static class Rsdp
{
    public const int Length = 36;
    public const byte Revision = 2;
    public const int Alignment = 16;

    internal const int ChecksumOffset = 8;
    internal const int V1Length = 20;
    internal const int ExtendedChecksumOffset = 32;

    public static byte[] Build(GuestAddress xsdt)
    {
        var writer = new AcpiTableWriter();
        writer.Ascii("RSD PTR ", 8);
        writer.U8(0); // checksum of the first 20 bytes
        writer.Ascii(AcpiIds.OemId, 6);
        writer.U8(Revision);
        writer.U32(0); // RsdtAddress: no RSDT, every consumer of revision 2 uses the XSDT
        writer.U32(Length);
        writer.U64(xsdt.Value);
        writer.U8(0); // extended checksum
        writer.Zeros(3);

        var rsdp = writer.ToArray();
        rsdp[ChecksumOffset] = AcpiChecksum.Compute(rsdp.AsSpan(0, V1Length), ChecksumOffset);
        rsdp[ExtendedChecksumOffset] = AcpiChecksum.Compute(rsdp, ExtendedChecksumOffset);
        return rsdp;
    }
}
