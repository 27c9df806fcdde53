namespace Sharpvisor.Api;

/// <summary>
/// The body of <c>POST /api/v1/vms/{vm}/migrate</c>: the manager to move the running VM to (its API URL, token and,
/// for a self-signed certificate, its SHA-256 fingerprint), with QEMU's migration settings.
/// </summary>
public sealed record MigrateSpec
{
    /// <summary>The destination manager's URL, like https://host2:7780.</summary>
    public string? To { get; init; }

    /// <summary>The destination manager's API token.</summary>
    public string? Token { get; init; }

    /// <summary>The SHA-256 fingerprint the destination's HTTPS certificate must have when it is not trusted otherwise.</summary>
    public string? Fingerprint { get; init; }

    /// <summary>The longest pause the guest may see, in ms (default 300, as QEMU's).</summary>
    public long? DowntimeMs { get; init; }

    /// <summary>Bytes per second at most while the guest runs (default: no limit).</summary>
    public long? MaxBandwidth { get; init; }

    /// <summary>Hold the vCPUs back when the guest dirties memory faster than the link carries it.</summary>
    public bool AutoConverge { get; init; }

    /// <summary>
    /// The destination's TAP for each of the VM's NICs, in order (default: the same names). On one host they must
    /// differ: the source's are in use until the hand-over. The NICs keep the VM's MACs whatever is given here.
    /// </summary>
    public IReadOnlyList<NicSpec>? Nics { get; init; }
}

/// <summary>A finished migration: the VM runs at <see cref="Destination"/> now and is no longer this manager's.</summary>
public sealed record MigrationResource
{
    public required string Vm { get; init; }

    public required string Destination { get; init; }

    public required int Rounds { get; init; }

    public required long BytesSent { get; init; }

    public required long TotalMs { get; init; }

    /// <summary>From the source's pause to the destination's word that the guest runs.</summary>
    public required long DowntimeMs { get; init; }

    /// <summary>The highest vCPU throttle auto-converge applied (%).</summary>
    public int ThrottlePercent { get; init; }
}
