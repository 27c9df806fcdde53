namespace Sharpvisor.Vmm.State;

/// <summary>
/// A device with work of its own in flight: threads that take requests from guest queues and complete them later.
/// Its saved state is only whole once that work has landed in guest RAM, so snapshots and migrations call
/// <see cref="Quiesce"/> after the vCPUs are paused, then <see cref="IDeviceState.SaveState"/>, then
/// <see cref="Unquiesce"/> if the VM goes on.
/// </summary>
public interface IQuiescentDevice
{
    /// <summary>
    /// Stops taking new work and waits, at most <paramref name="deadline"/>, until every request already taken has
    /// completed with its used-ring entry and interrupt written. A notify the guest makes meanwhile is not lost: the
    /// device looks at its queues again on <see cref="Unquiesce"/> or after a restore. Past the deadline (a backend
    /// call that does not return) it throws a <see cref="StateException"/> naming the device and is left running as
    /// before, never quiesced by half.
    /// </summary>
    void Quiesce(TimeSpan deadline);

    /// <summary>Goes on as before <see cref="Quiesce"/>, serving what the guest posted meanwhile; harmless when not quiesced.</summary>
    void Unquiesce();
}
