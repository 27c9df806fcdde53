using Sharpvisor.Control;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Control;

/// <summary>How a machine's stop reads in the exit file the supervisor classifies (<see cref="ExitRecord"/>).</summary>
public static class StopReasonExitRecord
{
    public static ExitRecord ToExitRecord(this StopReason reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        var kind = reason.Kind switch
        {
            StopKind.GuestExit => ExitRecord.GuestExit,
            StopKind.GuestPowerOff => ExitRecord.PowerOff,
            StopKind.GuestReboot => ExitRecord.Reset,
            StopKind.HostRequest => ExitRecord.Signal,
            _ => ExitRecord.Crash, // a guest crash or the VMM's own failure
        };
        return new ExitRecord(kind, reason.ExitStatus, reason.Description);
    }
}
