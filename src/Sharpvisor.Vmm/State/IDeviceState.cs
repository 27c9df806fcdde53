namespace Sharpvisor.Vmm.State;

/// <summary>
/// A device whose state snapshots and migrations carry, one section per device. Both calls come with every vCPU
/// parked outside the guest, so the guest cannot touch the device meanwhile; the device's own threads and timers may
/// still run and must be serialised by the device's lock as for any access.
/// </summary>
public interface IDeviceState
{
    /// <summary>Four printable ASCII characters naming the device's section (unique within a machine).</summary>
    string StateTag { get; }

    /// <summary>The newest layout this code writes and reads; a restore refuses a newer one.</summary>
    uint StateVersion { get; }

    void SaveState(StatePayload payload);

    /// <summary>
    /// Puts back what <see cref="SaveState"/> wrote. The section comes from a file or a peer: every field is
    /// checked (a value out of range is a <see cref="StateException"/>, never a crash or a half-restored device).
    /// </summary>
    void RestoreState(StateSection section);
}
