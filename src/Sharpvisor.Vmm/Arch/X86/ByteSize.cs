namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>Sizes in error messages, written the way a user would type them back (exact binary units only).</summary>
public static class ByteSize
{
    private static readonly (ulong Unit, string Name)[] Units =
    [
        (1UL << 50, "PiB"),
        (1UL << 40, "TiB"),
        (1UL << 30, "GiB"),
        (1UL << 20, "MiB"),
        (1UL << 10, "KiB"),
    ];

    public static string Format(ulong bytes)
    {
        foreach (var (unit, name) in Units)
        {
            if (bytes >= unit && bytes % unit == 0)
            {
                return $"{bytes / unit} {name}";
            }
        }

        return bytes == 1 ? "1 byte" : $"{bytes} bytes";
    }
}
