namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>The identity every Sharpvisor table carries in its header.</summary>
public static class AcpiIds
{
    public const string OemId = "SHARPV";

    /// <summary>The vendor ID of the "compiler" that made the tables: this builder.</summary>
    public const string CreatorId = "SHRP";

    public const uint OemRevision = 1;

    public const uint CreatorRevision = 1;

    /// <summary>OEM table IDs name the table so a guest's dmesg says which VMM built which table.</summary>
    public static string OemTableId(string signature) => "SV" + signature;
}
