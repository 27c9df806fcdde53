namespace Sharpvisor.Manager.Store;

/// <summary>
/// The scenarios the built-in test guest knows (the table in guests/testguest/main.c, which a test compares with
/// this list): a definition naming any other would boot a guest that fails at once with "unknown scenario".
/// </summary>
public static class BuiltInGuestScenarios
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "hello", "timer", "smp", "memory", "serial-echo", "reboot", "triple-fault", "breakpoint", "acpi",
        "acpi-poweroff", "acpi-reset", "virtio-blk", "virtio-blk-zero", "virtio-blk-bench", "virtio-blk-hostile",
        "virtio-net", "virtio-net-bench", "virtio-rng", "display", "virtio-console", "hostile-console", "hostile-blk-huge",
        "hostile-reset-loop", "hostile-console-stall", "idle", "spin", "shell", "generation", "kvmclock",
        "virtio-blk-generation",
    ];

    public static bool IsKnown(string scenario) => Names.Contains(scenario, StringComparer.Ordinal);
}
