namespace Sharpvisor.Control;

/// <summary>
/// The VMM's own limits that the manager checks a definition against before it starts anything. They live in the
/// contract so the VMM (which builds its memory layout on them) and the manager's validation cannot drift.
/// </summary>
public static class VmmLimits
{
    /// <summary>Below this, a Linux guest barely decompresses; a smaller value is almost always a typo.</summary>
    public const ulong MinimumRamSize = 16UL << 20;

    /// <summary>
    /// Room for the kernel command line including its NUL. Far above Linux's default 2048-byte COMMAND_LINE_SIZE, so
    /// the guest's own limit is what users hit first, yet small enough to keep well below the EBDA.
    /// </summary>
    public const ulong MaxCommandLineSize = 0x1_0000;
}
