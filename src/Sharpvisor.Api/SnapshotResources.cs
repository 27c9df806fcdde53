namespace Sharpvisor.Api;

/// <summary>The body of <c>POST /api/v1/vms/{vm}/snapshots</c>.</summary>
public sealed record SnapshotSpec
{
    /// <summary>1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit; one of that name is replaced.</summary>
    public string? Name { get; init; }

    /// <summary>Stop the VM once the snapshot is written (default: it goes on as it was, running or paused).</summary>
    public bool Stop { get; init; }
}

/// <summary>A snapshot the manager keeps for a VM (its file lives in the manager's data directory).</summary>
public sealed record SnapshotResource
{
    public required string Name { get; init; }

    public required Guid VmId { get; init; }

    /// <summary>The file's length: all of the guest's RAM, though pages it never touched take no disk.</summary>
    public required long SizeBytes { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The RAM written (what the guest had touched); given when the snapshot was just taken.</summary>
    public long? RamBytes { get; init; }
}
