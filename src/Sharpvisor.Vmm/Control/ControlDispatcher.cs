using System.Text.Json;
using Sharpvisor.Control;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Control;

/// <summary>What the control protocol drives: one VMM process's machine.</summary>
public interface IControlTarget
{
    StatusResult Status();

    /// <summary>Returns once every vCPU is parked (or with the state that overtook the pause).</summary>
    MachineState Pause();

    MachineState Resume();

    /// <summary>Starts stopping the machine as SIGTERM does and returns at once; called after the reply went out.</summary>
    void Stop();

    MetricsResult Metrics();

    /// <summary>Pauses the VM if it runs, saves it to <paramref name="path"/>, and leaves it in the state it was in.</summary>
    SnapshotResult Snapshot(string path);

    /// <summary>Migrates the VM out through a unix socket at the arguments' path (<see cref="Migration.MigrationSocket"/>); returns at the end.</summary>
    MigrateResult Migrate(ControlArguments arguments);

    /// <summary>Cancels the migration in progress (the VM runs on here); false when none is, or it is past the point of no return.</summary>
    bool CancelMigration();

    /// <summary>The display's heads and where their VNC servers listen; a <see cref="ControlException"/> without a display.</summary>
    DisplayResult Display();

    /// <summary>A one-time VNC password for the display's servers.</summary>
    DisplayTicketResult IssueDisplayTicket();

    /// <summary>Writes head <paramref name="head"/>'s picture as a PNG to <paramref name="path"/>.</summary>
    ScreenshotResult Screenshot(int head, string path);
}

/// <summary>A response and what to do once it has been sent (the stop, so its reply gets out before the process ends).</summary>
public readonly record struct ControlReply(ControlResponse Response, Action? AfterSend = null);

/// <summary>Turns one request line into one response. Never throws: every failure becomes an error response.</summary>
public sealed class ControlDispatcher(IControlTarget target)
{
    private const int MaxPathLength = 4096;

    private static readonly string KnownCommands = string.Join(", ", ControlCommands.All);

    public ControlReply Handle(ReadOnlySpan<byte> line)
    {
        if (!ControlCodec.TryParseRequest(line, out var parsedId, out var command, out var arguments, out var error))
        {
            return new(ControlResponse.Failure(parsedId, error));
        }

        var id = parsedId!.Value;
        try
        {
            return command switch
            {
                ControlCommands.Status => Ok(id, JsonSerializer.SerializeToElement(target.Status(), ControlJsonContext.Default.StatusResult)),
                ControlCommands.Pause => Ok(id, StateElement(target.Pause())),
                ControlCommands.Resume => Ok(id, StateElement(target.Resume())),
                ControlCommands.Stop => new(ControlResponse.Success(id, StateElement(MachineState.Stopping)), target.Stop),
                ControlCommands.Metrics => Ok(id, JsonSerializer.SerializeToElement(target.Metrics(), ControlJsonContext.Default.MetricsResult)),
                ControlCommands.Snapshot when !UsablePath(arguments.Path) =>
                    new(ControlResponse.Failure(id, $"'snapshot' needs \"path\": the file to write (1 to {MaxPathLength} characters)")),
                ControlCommands.Snapshot => Ok(id, JsonSerializer.SerializeToElement(target.Snapshot(arguments.Path!), ControlJsonContext.Default.SnapshotResult)),
                ControlCommands.Migrate when !UsablePath(arguments.Path) =>
                    new(ControlResponse.Failure(id, $"'migrate' needs \"path\": the unix socket to send the VM through (1 to {MaxPathLength} characters)")),
                ControlCommands.Migrate when arguments.DowntimeMs is 0 or > MigrationLimits.MaxDowntimeMs =>
                    new(ControlResponse.Failure(id, $"\"downtime_ms\" must be 1 to {MigrationLimits.MaxDowntimeMs}")),
                ControlCommands.Migrate when arguments.MaxBandwidth is > 0 and < MigrationLimits.MinBandwidth =>
                    new(ControlResponse.Failure(id, $"\"max_bandwidth\" must be 0 (no limit) or at least {MigrationLimits.MinBandwidth} bytes/s")),
                ControlCommands.Migrate => Migrated(id, target.Migrate(arguments)),
                ControlCommands.Display => Ok(id, JsonSerializer.SerializeToElement(target.Display(), ControlJsonContext.Default.DisplayResult)),
                ControlCommands.DisplayTicket => Ok(id, JsonSerializer.SerializeToElement(target.IssueDisplayTicket(), ControlJsonContext.Default.DisplayTicketResult)),
                ControlCommands.Screenshot when !UsablePath(arguments.Path) =>
                    new(ControlResponse.Failure(id, $"'screenshot' needs \"path\": the PNG file to write (1 to {MaxPathLength} characters)")),
                ControlCommands.Screenshot => Ok(id, JsonSerializer.SerializeToElement(target.Screenshot(arguments.Head ?? 0, arguments.Path!), ControlJsonContext.Default.ScreenshotResult)),
                ControlCommands.MigrateCancel => target.CancelMigration()
                    ? Ok(id, StateElement(MachineState.Running))
                    : new(ControlResponse.Failure(id, "no migration to cancel")),
                _ => new(ControlResponse.Failure(id, $"unknown command '{ControlCodec.Quote(command!)}' (known: {KnownCommands})")),
            };
        }
        catch (Exception e) when (e is ControlException or State.StateException or Migration.MigrationException or IOException or UnauthorizedAccessException)
        {
            return new(ControlResponse.Failure(id, ControlCodec.OneLine(e.Message)));
        }
#pragma warning disable CA1031 // a failing command must cost its client an error line, never the VMM
        catch (Exception e)
        {
            return new(ControlResponse.Failure(id, $"internal error in '{command}': {e.GetType().Name}: {ControlCodec.OneLine(e.Message)}"));
        }
#pragma warning restore CA1031
    }

    public static string StateName(MachineState state) => state switch
    {
        MachineState.Running => ControlStates.Running,
        MachineState.Paused => ControlStates.Paused,
        _ => ControlStates.Stopping,
    };

    /// <summary>A VM that runs at the destination now is stopped here, once the reply went out (as <c>stop</c> is).</summary>
    private ControlReply Migrated(int id, MigrateResult result) =>
        new(ControlResponse.Success(id, JsonSerializer.SerializeToElement(result, ControlJsonContext.Default.MigrateResult)), target.Stop);

    private static bool UsablePath(string? path) =>
        !string.IsNullOrEmpty(path) && !path.Contains('\0', StringComparison.Ordinal) && path.Length <= MaxPathLength;

    private static ControlReply Ok(int id, JsonElement result) => new(ControlResponse.Success(id, result));

    private static JsonElement StateElement(MachineState state) =>
        JsonSerializer.SerializeToElement(new StateResult(StateName(state)), ControlJsonContext.Default.StateResult);
}
