using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// The action does not fit the VM's state: start when it runs, pause when it is stopped... (the API's 409, as the
/// store's conflicts).
/// </summary>
public sealed class VmStateConflictException : VmConflictException
{
    public VmStateConflictException(Guid id, VmState state, string action)
        : base($"cannot {action} VM {id}: it is {state.ToName()}")
    {
        Id = id;
        State = state;
        Action = action;
    }

    public Guid Id { get; }

    public VmState State { get; }

    public string Action { get; }
}

/// <summary>
/// The VMM process could not be started, or it failed before its control socket answered. The VM is recorded as
/// crashed with <see cref="Reason"/>.
/// </summary>
public sealed class VmStartException : VmStoreException
{
    public VmStartException(Guid id, string reason, Exception? innerException = null)
        : base($"VM {id} did not start: {reason}", innerException)
    {
        Id = id;
        Reason = reason;
    }

    public Guid Id { get; }

    public string Reason { get; }
}

/// <summary>The VMM's control socket did not answer a request, or refused it, while the process still runs.</summary>
public sealed class VmControlException : VmStoreException
{
    public VmControlException(Guid id, string message, Exception? innerException = null)
        : base($"VM {id}: {message}", innerException)
    {
        Id = id;
    }

    public Guid Id { get; }
}

/// <summary>
/// A migration between managers failed: the other manager refused or could not be reached, or a VMM gave up on the
/// stream (the API's 502). The VM runs on where it ran, unless the message says it stays paused for the operator.
/// </summary>
public sealed class MigrationFailedException(string message, Exception? innerException = null) : VmStoreException(message, innerException);

/// <summary>
/// A migration was cancelled (its migrate answers this, and the VM runs on here), or a cancel found none to cancel or
/// came after the hand-over (the API's 409).
/// </summary>
public sealed class MigrationConflictException(string message, Exception? innerException = null) : VmConflictException(message, innerException);

/// <summary>A display action on a VM defined without a display (the API's 409).</summary>
public sealed class NoDisplayException(string vm) : VmConflictException($"VM '{vm}' has no display (define one: \"display\": {{\"heads\": 1}})");

/// <summary>A template asked to run, a VM not a template asked for a clone, or a template changed while clones read its disks (the API's 409).</summary>
public sealed class TemplateConflictException(string message) : VmConflictException(message);
