using System.Diagnostics;
using System.Globalization;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// What /proc says about a process the supervisor did not start (an adopted VMM): whether it still lives, and the
/// VMM process that serves a control socket. A process is known by its pid and its start time (field 22 of
/// /proc/PID/stat), so a pid reused by another process is not mistaken for the VMM.
/// </summary>
internal static class ProcessProbe
{
    /// <summary>The process's start time in clock ticks since boot, or null when there is no such live process (a zombie counts as gone).</summary>
    public static ulong? StartTime(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted after the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); the start time is field 22.
        if (fields.Length < 20 || fields[0] is "Z" or "X" or "x")
        {
            return null;
        }

        return ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    public static bool IsAlive(int pid, ulong startTime) => StartTime(pid) == startTime;

    /// <summary>Live processes whose command line has <c>--control <paramref name="socketPath"/></c>.</summary>
    public static IEnumerable<int> FindByControlSocket(string socketPath)
    {
        foreach (var pid in ProcessIds())
        {
            string cmdline;
            try
            {
                cmdline = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            var args = cmdline.Split('\0');
            for (var i = 0; i + 1 < args.Length; i++)
            {
                if (args[i] == "--control" && args[i + 1] == socketPath)
                {
                    yield return pid;
                    break;
                }
            }
        }
    }

    /// <summary>The real uid of a live process (the <c>Uid:</c> line of /proc/PID/status), or null.</summary>
    public static uint? Uid(int pid)
    {
        try
        {
            return UidOf(File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The real uids of every process /proc shows.</summary>
    public static HashSet<uint> LiveUids()
    {
        var uids = new HashSet<uint>();
        foreach (var pid in ProcessIds())
        {
            if (Uid(pid) is { } uid)
            {
                uids.Add(uid);
            }
        }

        return uids;
    }

    /// <summary>The pids /proc lists now (a snapshot: a process may be gone by the time its files are read).</summary>
    private static List<int> ProcessIds()
    {
        try
        {
            var pids = new List<int>();
            foreach (var entry in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    pids.Add(pid);
                }
            }

            return pids;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static uint? UidOf(IEnumerable<string> status)
    {
        // "Uid:\treal\teffective\tsaved\tfs"
        var line = status.FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        var fields = line?["Uid:".Length..].Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return fields is { Length: > 0 } && uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
    }

    /// <summary>Sends SIGKILL to a process that is not necessarily this one's child; false when it is gone already.</summary>
    public static bool Kill(int pid, ulong startTime)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (!IsAlive(pid, startTime))
            {
                return false;
            }

            process.Kill();
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
