namespace Sharpvisor.Vmm.Machine;

/// <summary>Why a machine stopped running.</summary>
public enum StopKind
{
    /// <summary>The guest wrote to the isa-debug-exit port.</summary>
    GuestExit,

    /// <summary>The guest asked for a reset (i8042 reset line).</summary>
    GuestReboot,

    /// <summary>The guest powered off (KVM_EXIT_SYSTEM_EVENT shutdown).</summary>
    GuestPowerOff,

    /// <summary>A vCPU stopped on something the VMM cannot continue from (triple fault, emulation failure...).</summary>
    GuestCrash,

    /// <summary>The host asked the VM to stop (signal, control command).</summary>
    HostRequest,

    /// <summary>The VMM itself failed.</summary>
    VmmError,
}

/// <summary>The first reason recorded wins; the exit status follows QEMU's conventions where one exists.</summary>
public sealed record StopReason(StopKind Kind, int ExitStatus, string Description)
{
    public static StopReason GuestExit(int status) => new(StopKind.GuestExit, status, $"guest requested exit with status {status}");

    public static StopReason Reboot() => new(StopKind.GuestReboot, 0, "guest requested a reset");

    public static StopReason PowerOff() => new(StopKind.GuestPowerOff, 0, "guest powered off");

    public static StopReason Crash(string description) => new(StopKind.GuestCrash, 1, description);

    public static StopReason Host(string description) => new(StopKind.HostRequest, 0, description);

    public static StopReason Error(string description) => new(StopKind.VmmError, 1, description);
}
