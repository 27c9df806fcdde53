namespace Sharpvisor.Manager.Store;

/// <summary>
/// The manager's inventory: VM definitions, each VM's runtime state, and an append-only event log.
/// Every write is one transaction that is durable when the call returns: what a caller was told succeeded survives a
/// kill -9 of the process (and, with SQLite's synchronous=FULL or PostgreSQL's defaults, a power cut).
/// Each write also appends its event (defined, updated, deleted, state) in the same transaction, so the event log
/// never misses a change and never shows one that did not happen.
/// </summary>
public interface IVmStore : IAsyncDisposable
{
    /// <summary>All VMs with their runtime state, by name; only those in <paramref name="state"/> when given.</summary>
    Task<IReadOnlyList<VmEntry>> ListAsync(VmState? state = null, CancellationToken cancellationToken = default);

    Task<VmDefinition?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    Task<VmDefinition?> GetByNameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a new definition in state <see cref="VmState.Defined"/> and returns it as stored (id assigned when
    /// empty, version 1, timestamps). Throws <see cref="VmValidationException"/> for an invalid definition and
    /// <see cref="VmNameConflictException"/> when the name (or id) is taken.
    /// </summary>
    Task<VmDefinition> CreateAsync(VmDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the definition with <paramref name="definition"/>'s id when its <see cref="VmDefinition.Version"/> is the
    /// stored one; returns it as stored (version + 1, new UpdatedAt). Throws <see cref="VmValidationException"/>,
    /// <see cref="VmNotFoundException"/>, <see cref="VmVersionConflictException"/> or <see cref="VmNameConflictException"/>.
    /// </summary>
    Task<VmDefinition> UpdateAsync(VmDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a definition and its runtime state (its events stay); false when there is none. With
    /// <paramref name="expectedVersion"/>, throws <see cref="VmVersionConflictException"/> when the stored version differs.
    /// </summary>
    Task<bool> DeleteAsync(Guid id, long? expectedVersion = null, CancellationToken cancellationToken = default);

    Task<VmRuntimeState?> GetStateAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a state change (with its exit reason when it stopped or crashed) and its event; throws
    /// <see cref="VmNotFoundException"/> for an unknown VM. Deciding which transitions are allowed is the supervisor's job.
    /// </summary>
    Task<VmRuntimeState> SetStateAsync(Guid id, VmState state, string? exitReason = null, CancellationToken cancellationToken = default);

    /// <summary>Appends an event (console or supervisor messages, say); ids only grow, in commit order.</summary>
    Task<VmEvent> AppendEventAsync(Guid vmId, string kind, string message, CancellationToken cancellationToken = default);

    /// <summary>
    /// The events with ids above <paramref name="afterId"/> (0: from the start), oldest first, at most
    /// <paramref name="limit"/>; only <paramref name="vmId"/>'s when given. The event stream polls this with the last id it sent.
    /// </summary>
    Task<IReadOnlyList<VmEvent>> ListEventsAsync(long afterId, int limit = 1000, Guid? vmId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// The newest <paramref name="limit"/> events (only <paramref name="vmId"/>'s when given), oldest first: a history's
    /// tail, and (limit 1) where a stream of new events starts.
    /// </summary>
    Task<IReadOnlyList<VmEvent>> ListLatestEventsAsync(int limit, Guid? vmId = null, CancellationToken cancellationToken = default);
}

/// <summary>A VM's runtime state; names are stored lowercase ("defined", "running" ...).</summary>
public enum VmState
{
    Defined,
    Starting,
    Running,
    Paused,
    Stopping,
    Stopped,
    Crashed,

    /// <summary>Its VMM exited before the VM ever ran (no usable KVM, a file gone): <c>ExitReason</c> says why.</summary>
    Failed,
}

/// <summary>
/// What the supervisor last recorded about a VM. <see cref="StartedAt"/> is the last move to Starting,
/// <see cref="StoppedAt"/> the last move to Stopped, Crashed or Failed; <see cref="ExitReason"/> says why it stopped.
/// </summary>
public sealed record VmRuntimeState(
    Guid VmId,
    VmState State,
    string? ExitReason,
    DateTimeOffset ChangedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? StoppedAt);

/// <summary>One row of a listing.</summary>
public sealed record VmEntry(VmDefinition Definition, VmRuntimeState State);

/// <summary>One entry of the event log. Events outlive their VM, so the stream can tell of its deletion.</summary>
public sealed record VmEvent(long Id, Guid VmId, DateTimeOffset Time, string Kind, string Message);

/// <summary>The kinds of event the store itself appends.</summary>
public static class VmEventKinds
{
    public const string Defined = "defined";
    public const string Updated = "updated";
    public const string Deleted = "deleted";
    public const string State = "state";
}

public static class VmStateNames
{
    /// <summary>The stored (and JSON) name: "running".</summary>
    public static string ToName(this VmState state) => state switch
    {
        VmState.Defined => "defined",
        VmState.Starting => "starting",
        VmState.Running => "running",
        VmState.Paused => "paused",
        VmState.Stopping => "stopping",
        VmState.Stopped => "stopped",
        VmState.Crashed => "crashed",
        VmState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static VmState Parse(string name) => TryParse(name, out var state)
        ? state
        : throw new VmStoreException($"unknown VM state '{name}' in the store");

    public static bool TryParse(string? name, out VmState state)
    {
        foreach (var candidate in Enum.GetValues<VmState>())
        {
            if (string.Equals(candidate.ToName(), name, StringComparison.Ordinal))
            {
                state = candidate;
                return true;
            }
        }

        state = default;
        return false;
    }
}
