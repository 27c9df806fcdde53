namespace Sharpvisor.Manager.Store;

/// <summary>A store failure that is not the database's own (a schema from a newer build, a bad stored value...).</summary>
public class VmStoreException : Exception
{
    public VmStoreException()
    {
    }

    public VmStoreException(string message)
        : base(message)
    {
    }

    public VmStoreException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The definition was refused; <see cref="Problems"/> names each bad field (the API's 400).</summary>
public sealed class VmValidationException : VmStoreException
{
    public VmValidationException(IReadOnlyList<ValidationProblem> problems)
        : base("invalid VM definition: " + string.Join("; ", problems ?? throw new ArgumentNullException(nameof(problems))))
    {
        Problems = problems;
    }

    public IReadOnlyList<ValidationProblem> Problems { get; }
}

/// <summary>The write lost to another one (the API's 409).</summary>
public abstract class VmConflictException : VmStoreException
{
    protected VmConflictException(string message)
        : base(message)
    {
    }

    protected VmConflictException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Another VM already has this name.</summary>
public sealed class VmNameConflictException : VmConflictException
{
    public VmNameConflictException(string name, Exception? innerException = null)
        : base($"a VM named '{name}' already exists", innerException)
    {
        Name = name;
    }

    public string Name { get; }
}

/// <summary>The caller chose an id that another VM already has.</summary>
public sealed class VmIdConflictException : VmConflictException
{
    public VmIdConflictException(Guid id)
        : base($"a VM with id {id} already exists")
    {
        Id = id;
    }

    public Guid Id { get; }
}

/// <summary>The VM changed since the caller read it: the caller's version is not the stored one.</summary>
public sealed class VmVersionConflictException : VmConflictException
{
    public VmVersionConflictException(Guid id, long expectedVersion, long actualVersion)
        : base($"VM {id} is at version {actualVersion}, not {expectedVersion}: it changed since it was read")
    {
        Id = id;
        ExpectedVersion = expectedVersion;
        ActualVersion = actualVersion;
    }

    public Guid Id { get; }

    public long ExpectedVersion { get; }

    public long ActualVersion { get; }
}

/// <summary>No VM has this id (the API's 404).</summary>
public sealed class VmNotFoundException : VmStoreException
{
    public VmNotFoundException(Guid id)
        : base($"no VM with id {id}")
    {
        Id = id;
    }

    public Guid Id { get; }
}
