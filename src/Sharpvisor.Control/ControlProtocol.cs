using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Control;

/// <summary>
/// The VMM's control protocol (docs/control-protocol.md): newline-delimited JSON on a unix socket, one request per
/// line, one response per line, in order. Shared by the VMM (server) and whatever drives it (the manager, tests).
/// </summary>
public static class ControlCommands
{
    public const string Status = "status";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Stop = "stop";
    public const string Metrics = "metrics";
    public const string Snapshot = "snapshot";
    public const string Migrate = "migrate";
    public const string MigrateCancel = "migrate-cancel";
    public const string Display = "display";
    public const string DisplayTicket = "display-ticket";
    public const string Screenshot = "screenshot";

    public static IReadOnlyList<string> All { get; } =
        [Status, Pause, Resume, Stop, Metrics, Snapshot, Migrate, MigrateCancel, Display, DisplayTicket, Screenshot];
}

/// <summary>The run states as the protocol spells them.</summary>
public static class ControlStates
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Stopping = "stopping";
}

/// <summary>
/// <c>{"id": 1, "command": "status"}</c>; <c>snapshot</c>, <c>migrate</c> and <c>screenshot</c> also take <c>"path"</c>,
/// <c>migrate</c> <c>"downtime_ms"</c> and <c>"max_bandwidth"</c>, <c>screenshot</c> <c>"head"</c>. Unknown members are ignored.
/// </summary>
public sealed record ControlRequest(int Id, string Command)
{
    public string? Path { get; init; }

    public int? Head { get; init; }

    public long? DowntimeMs { get; init; }

    public long? MaxBandwidth { get; init; }

    public bool? AutoConverge { get; init; }
}

/// <summary>The bounds of <c>migrate</c>'s settings: the VMM refuses anything outside them, and so does the manager, first.</summary>
public static class MigrationLimits
{
    /// <summary><c>downtime_ms</c> is 1 to this.</summary>
    public const long MaxDowntimeMs = 600_000;

    /// <summary><c>max_bandwidth</c> is 0 (no limit) or at least this: below it a migration of even a small guest would take hours.</summary>
    public const long MinBandwidth = 1_000_000;
}

/// <summary>The arguments a request carried besides its id and command; null when absent.</summary>
public sealed record ControlArguments
{
    public string? Path { get; init; }

    public long? DowntimeMs { get; init; }

    /// <summary>Bytes per second.</summary>
    public long? MaxBandwidth { get; init; }

    public bool? AutoConverge { get; init; }

    /// <summary>A display head (0 up).</summary>
    public int? Head { get; init; }
}

/// <summary>
/// <c>{"id": 1, "ok": true, "result": {...}}</c> or <c>{"id": 1, "ok": false, "error": "one line"}</c>. The id is the
/// request's, or null when the request had none that could be read (not JSON, a line too long).
/// </summary>
public sealed record ControlResponse
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public int? Id { get; init; }

    public bool Ok { get; init; }

    /// <summary>The command's result object when <see cref="Ok"/>; its shape depends on the command.</summary>
    public JsonElement? Result { get; init; }

    public string? Error { get; init; }

    public static ControlResponse Success(int id, JsonElement result) => new() { Id = id, Ok = true, Result = result };

    public static ControlResponse Failure(int? id, string error) => new() { Id = id, Ok = false, Error = error };
}

/// <summary>Result of <c>status</c>; <see cref="Migration"/> while a migration runs.</summary>
public sealed record StatusResult(string State, int Pid, long UptimeMs, int Vcpus, ulong MemoryBytes)
{
    public MigrationStatus? Migration { get; init; }
}

/// <summary>A running migration after its last round: totals so far, pages dirty now, the bandwidth, the expected downtime, the vCPU throttle.</summary>
public sealed record MigrationStatus(int Round, long PagesSent, long BytesSent, long RemainingPages, long BytesPerSecond, long ExpectedDowntimeMs, int ThrottlePercent);

/// <summary>Result of <c>pause</c>, <c>resume</c> and <c>stop</c>: the state the command left the machine in.</summary>
public sealed record StateResult(string State);

/// <summary>Result of <c>snapshot</c>: the state the VM was left in (as before the command), the file, and the RAM bytes written.</summary>
public sealed record SnapshotResult(string State, string Path, long RamBytes);

/// <summary>Result of <c>migrate</c>: the source's state afterwards (<c>stopping</c>: the VM runs at the destination), rounds and traffic.</summary>
public sealed record MigrateResult(string State, int Rounds, long PagesSent, long BytesSent, long TotalMs, long DowntimeMs)
{
    /// <summary>The highest vCPU throttle auto-converge applied (%).</summary>
    public int ThrottlePercent { get; init; }
}

/// <summary>Result of <c>display</c>: each head's size now and where its VNC server listens; whether a password is set.</summary>
public sealed record DisplayResult(IReadOnlyList<DisplayHeadInfo> Heads, bool Password);

/// <summary>One head: its framebuffer's size, its unix socket (null: none) and its loopback TCP endpoint (null: none).</summary>
public sealed record DisplayHeadInfo(int Head, int Width, int Height, string? Socket, string? Tcp);

/// <summary>Result of <c>display-ticket</c>: a one-time VNC password, good for one connection within its lifetime.</summary>
public sealed record DisplayTicketResult(string Ticket, long ExpiresInMs);

/// <summary>Result of <c>screenshot</c>: the PNG written and the size of the picture in it.</summary>
public sealed record ScreenshotResult(string Path, int Width, int Height);

/// <summary>Result of <c>metrics</c>.</summary>
public sealed record MetricsResult(
    IReadOnlyList<VcpuMetrics> Vcpus,
    long TotalExits,
    IReadOnlyDictionary<string, long> EmulationAssist,
    long RssBytes,
    IReadOnlyList<DeviceMetrics> Devices);

/// <summary>One vCPU's exits to the VMM by KVM exit reason (<c>io</c>, <c>mmio</c>, <c>internal_error</c> ...), only reasons seen.</summary>
public sealed record VcpuMetrics(int Id, long TotalExits, IReadOnlyDictionary<string, long> Exits);

/// <summary>One virtio-pci function: its PCI slot, device type (<c>block</c>, <c>net</c>, <c>console</c>, <c>rng</c>) and counters.</summary>
public sealed record DeviceMetrics(int Slot, string Type, IReadOnlyDictionary<string, long> Counters);

/// <summary>Source-generated JSON for the protocol (no reflection: the CLI is NativeAOT).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
[JsonSerializable(typeof(StatusResult))]
[JsonSerializable(typeof(StateResult))]
[JsonSerializable(typeof(MetricsResult))]
[JsonSerializable(typeof(SnapshotResult))]
[JsonSerializable(typeof(MigrateResult))]
[JsonSerializable(typeof(DisplayResult))]
[JsonSerializable(typeof(DisplayTicketResult))]
[JsonSerializable(typeof(ScreenshotResult))]
public sealed partial class ControlJsonContext : JsonSerializerContext;
