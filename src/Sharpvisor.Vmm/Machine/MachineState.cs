namespace Sharpvisor.Vmm.Machine;

/// <summary>A machine's run state as the host sees it.</summary>
public enum MachineState
{
    /// <summary>The vCPUs may enter the guest (also before <see cref="Machine.Run"/> starts them).</summary>
    Running,

    /// <summary>Every vCPU is parked outside the guest; devices keep running.</summary>
    Paused,

    /// <summary>A stop was requested; the machine is on its way down.</summary>
    Stopping,
}
