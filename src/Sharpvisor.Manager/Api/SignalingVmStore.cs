using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The daemon's store: every write (the API's and the supervisor's) pulses <see cref="EventSignal"/> once committed,
/// so the event streams send it at once. Reads pass through.
/// </summary>
internal sealed class SignalingVmStore(IVmStore inner, EventSignal signal) : IVmStore
{
    public Task<IReadOnlyList<VmEntry>> ListAsync(VmState? state = null, CancellationToken cancellationToken = default) =>
        inner.ListAsync(state, cancellationToken);

    public Task<VmDefinition?> GetAsync(Guid id, CancellationToken cancellationToken = default) => inner.GetAsync(id, cancellationToken);

    public Task<VmDefinition?> GetByNameAsync(string name, CancellationToken cancellationToken = default) =>
        inner.GetByNameAsync(name, cancellationToken);

    public Task<VmDefinition> CreateAsync(VmDefinition definition, CancellationToken cancellationToken = default) =>
        Signal(inner.CreateAsync(definition, cancellationToken));

    public Task<VmDefinition> UpdateAsync(VmDefinition definition, CancellationToken cancellationToken = default) =>
        Signal(inner.UpdateAsync(definition, cancellationToken));

    public Task<bool> DeleteAsync(Guid id, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        Signal(inner.DeleteAsync(id, expectedVersion, cancellationToken));

    public Task<VmRuntimeState?> GetStateAsync(Guid id, CancellationToken cancellationToken = default) =>
        inner.GetStateAsync(id, cancellationToken);

    public Task<VmRuntimeState> SetStateAsync(Guid id, VmState state, string? exitReason = null, CancellationToken cancellationToken = default) =>
        Signal(inner.SetStateAsync(id, state, exitReason, cancellationToken));

    public Task<VmEvent> AppendEventAsync(Guid vmId, string kind, string message, CancellationToken cancellationToken = default) =>
        Signal(inner.AppendEventAsync(vmId, kind, message, cancellationToken));

    public Task<IReadOnlyList<VmEvent>> ListEventsAsync(long afterId, int limit = 1000, Guid? vmId = null, CancellationToken cancellationToken = default) =>
        inner.ListEventsAsync(afterId, limit, vmId, cancellationToken);

    public Task<IReadOnlyList<VmEvent>> ListLatestEventsAsync(int limit, Guid? vmId = null, CancellationToken cancellationToken = default) =>
        inner.ListLatestEventsAsync(limit, vmId, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private async Task<T> Signal<T>(Task<T> write)
    {
        try
        {
            return await write.ConfigureAwait(false);
        }
        finally
        {
            signal.Pulse();
        }
    }
}
