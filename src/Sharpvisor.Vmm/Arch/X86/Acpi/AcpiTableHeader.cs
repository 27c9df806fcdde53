namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>Facts about the 36-byte system description table header every table but the RSDP starts with.</summary>
public static class AcpiTableHeader
{
    public const int Length = 36;
    public const int LengthOffset = 4;
    public const int RevisionOffset = 8;
    public const int ChecksumOffset = 9;
}
