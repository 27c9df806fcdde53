using System.Text;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>How a VMM's end becomes a VM state and a reason: its exit record, its status or signal, its last words in the log.</summary>
public sealed partial class VmSupervisor
{
    private static (VmState State, string Reason) Classify(VmRun run, int? exitCode, ExitRecord? record)
    {
        switch (run.Expected)
        {
            case ExpectedExit.Stop:
            case ExpectedExit.Kill:
                return (VmState.Stopped, run.ExpectedReason ?? "stopped on request");
            case ExpectedExit.Failed:
                // Only a start gives up on a VMM this way (it never answered): the VM never ran.
                return (VmState.Failed, run.ExpectedReason ?? "failed");
        }

        // The VMM's own account, when it lived to write one, is exact (also for a VMM adopted after a restart,
        // whose exit status nobody can read); a death by signal after writing it still counts as a crash.
        if (record is not null && exitCode is null or <= 128)
        {
            return record.Kind switch
            {
                ExitRecord.GuestExit => (VmState.Stopped, $"the guest exited with status {record.Status}"),
                ExitRecord.PowerOff => (VmState.Stopped, "the guest powered off"),
                ExitRecord.Reset => (VmState.Stopped, "the guest reset"),
                ExitRecord.Signal => (VmState.Stopped, $"stopped by the host: {record.Message}"),
                ExitRecord.StartFailure => (VmState.Failed, record.Message),
                _ => (VmState.Crashed, $"exit status {record.Status}: {record.Message}"),
            };
        }

        var diagnostic = LastVmmMessage(run);
        if (exitCode is not { } code)
        {
            return (VmState.Crashed, $"the VMM process {run.Pid} exited unexpectedly; its status is unknown (adopted after a manager restart)"
                + (diagnostic is null ? "" : $": {diagnostic}"));
        }

        // .NET reports death by signal N as 128 + N.
        if (code is > 128 and <= 128 + 64)
        {
            return (VmState.Crashed, $"the VMM process was killed by signal {code - 128}{SignalName(code - 128)} (exit status {code})");
        }

        // The VMM says why on stderr when the guest crashed or it failed itself; a guest that ends normally
        // (debug-exit port, power-off) leaves stderr silent, whatever its status.
        if (code != 0 && diagnostic is not null)
        {
            return (VmState.Crashed, $"exit status {code}: {diagnostic}");
        }

        return (VmState.Stopped, code == 0 ? "the VMM exited with status 0" : $"the guest exited with status {code}");
    }

    private static string SignalName(int signal) => signal switch
    {
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        31 => " (SIGSYS: it made a system call its seccomp filter forbids; the guest may have taken it over)",
        _ => "",
    };

    /// <summary>The last "sharpvisor: " line the VMM wrote to its log during this run, or null.</summary>
    private static string? LastVmmMessage(VmRun run)
    {
        try
        {
            using var stream = new FileStream(run.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (stream.Length <= run.LogOffset)
            {
                return null;
            }

            // The end of the log is enough to say why; a runaway log is not read whole.
            stream.Position = Math.Max(run.LogOffset, stream.Length - 16384);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var text = reader.ReadToEnd();
            string? last = null;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("sharpvisor: ", StringComparison.Ordinal))
                {
                    last = line["sharpvisor: ".Length..].TrimEnd('\r');
                }
            }

            return last;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
