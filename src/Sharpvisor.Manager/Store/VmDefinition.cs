namespace Sharpvisor.Manager.Store;

/// <summary>
/// A virtio-blk disk on an image file in <paramref name="Format"/> (raw or qcow2; null, as every definition stored
/// before formats were, is raw: a format is never guessed from the file, which the guest writes); the guest sees them
/// as vda, vdb ... in list order.
/// </summary>
public sealed record DiskDefinition(string Path, bool ReadOnly = false, string? Format = null)
{
    /// <summary>The format's name, raw when none is given.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string FormatName => Format ?? "raw";

    /// <summary>
    /// A qcow2 image's backing files, nearest first, as an open of the image finds them: found on this host when the
    /// definition is checked to run (never stored), and opened read-only for a confined VMM.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> BackingFiles { get; init; } = [];
}

/// <summary>A virtio-net NIC on a TAP interface; <paramref name="Mac"/> like 02:00:00:00:00:01, or null for a generated one.</summary>
public sealed record NicDefinition(string Tap, string? Mac = null);

/// <summary>
/// A screen: a virtio-gpu with <paramref name="Heads"/> heads preferring <paramref name="Width"/> x <paramref name="Height"/>,
/// a virtio keyboard and tablet, a VNC server per head on the VM's own unix socket and, when
/// <paramref name="VncListen"/> names a loopback HOST:PORT, there too, where clients authenticate with
/// <paramref name="VncPassword"/> or a one-time ticket (see docs/display.md).
/// </summary>
public sealed record DisplayDefinition(int Heads = 1, int Width = 1024, int Height = 768, string? VncListen = null, string? VncPassword = null)
{
    // Records print every member; a password has no place in a log line.
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"Heads = {Heads}, Width = {Width}, Height = {Height}, VncListen = {VncListen}, VncPassword = {(VncPassword is null ? "none" : "set")}");
        return true;
    }
}

/// <summary>The guest's console device: COM1, or a virtio console (hvc0).</summary>
public static class VmConsoles
{
    public const string Serial = "serial";
    public const string Virtio = "virtio";
}

/// <summary>
/// A VM as the inventory keeps it. The caller fills in what the VM is; the store assigns <see cref="Id"/> (when
/// empty), <see cref="CreatedAt"/>, <see cref="UpdatedAt"/> and <see cref="Version"/>. An update must carry the
/// <see cref="Version"/> it was read with (optimistic concurrency).
/// </summary>
public sealed record VmDefinition
{
    public Guid Id { get; init; }

    /// <summary>Unique; 1-63 characters of [a-z0-9-], starting with a letter.</summary>
    public string Name { get; init; } = "";

    public int Vcpus { get; init; } = 1;

    public int MemoryMiB { get; init; } = 256;

    /// <summary>An absolute path to a PVH ELF or bzImage kernel; exactly one of this and <see cref="BuiltInGuest"/>.</summary>
    public string? Kernel { get; init; }

    /// <summary>A scenario of the built-in test guest (hello, timer, smp ...); exactly one of this and <see cref="Kernel"/>.</summary>
    public string? BuiltInGuest { get; init; }

    /// <summary>An absolute path to an initramfs; only with <see cref="Kernel"/>.</summary>
    public string? Initrd { get; init; }

    /// <summary>The kernel command line (for the built-in guest: the scenario's arguments).</summary>
    public string Cmdline { get; init; } = "";

    /// <summary>
    /// A template: kept to make thin clones of (each disk a qcow2 overlay over the template's), never started itself,
    /// so its disks stay what every clone reads beneath its own writes.
    /// </summary>
    public bool IsTemplate { get; init; }

    public IReadOnlyList<DiskDefinition> Disks { get; init; } = [];

    public IReadOnlyList<NicDefinition> Nics { get; init; } = [];

    /// <summary><see cref="VmConsoles.Serial"/> or <see cref="VmConsoles.Virtio"/>.</summary>
    public string Console { get; init; } = VmConsoles.Serial;

    /// <summary>The VM's screen; null: none.</summary>
    public DisplayDefinition? Display { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>1 when created, one more on every update.</summary>
    public long Version { get; init; }

    /// <summary>Every problem with this definition, each naming its field; empty when it is valid.</summary>
    public IReadOnlyList<ValidationProblem> Validate() => VmDefinitionValidator.Validate(this);

    // Records compare lists by reference; a definition read back from the store has new lists with the same items.
    public bool Equals(VmDefinition? other) =>
        other is not null
        && Id == other.Id
        && Name == other.Name
        && Vcpus == other.Vcpus
        && MemoryMiB == other.MemoryMiB
        && Kernel == other.Kernel
        && BuiltInGuest == other.BuiltInGuest
        && Initrd == other.Initrd
        && Cmdline == other.Cmdline
        && SequenceEqual(Disks, other.Disks)
        && SequenceEqual(Nics, other.Nics)
        && Console == other.Console
        && Display == other.Display
        && CreatedAt == other.CreatedAt
        && UpdatedAt == other.UpdatedAt
        && Version == other.Version;

    public override int GetHashCode() => HashCode.Combine(Id, Name, Version);

    private static bool SequenceEqual<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b) =>
        a is null || b is null ? a is null && b is null : a.SequenceEqual(b);
}

/// <summary>One thing wrong with a definition: the JSON name of the field (e.g. "disks[1].path") and what is wrong.</summary>
public sealed record ValidationProblem(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";

    /// <summary>The problems grouped by field, the shape of ProblemDetails' "errors".</summary>
    public static Dictionary<string, string[]> ToErrors(IEnumerable<ValidationProblem> problems) =>
        problems.GroupBy(p => p.Field, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray(), StringComparer.Ordinal);
}
