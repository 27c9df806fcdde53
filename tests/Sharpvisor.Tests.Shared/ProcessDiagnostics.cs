using System.Globalization;
using System.Text;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// What a test says about a process it is about to kill for missing its deadline: each thread of the process and of
/// its children, its state, where it sleeps in the kernel (wchan) and its kernel stack (readable as root), so a
/// hung VMM's report shows whether its vCPU threads were in KVM_RUN, waiting on a lock, or gone.
/// </summary>
public static class ProcessDiagnostics
{
    private const int MaxStackLines = 12;

    public static string Threads(int pid)
    {
        var sb = new StringBuilder();
        try
        {
            Describe(pid, sb, depth: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"(process {pid}: {e.Message})");
        }

        return sb.ToString();
    }

    private static void Describe(int pid, StringBuilder sb, int depth)
    {
        var dir = $"/proc/{pid}";
        if (!Directory.Exists(dir) || depth > 4)
        {
            return;
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"threads of {pid} ({Read($"{dir}/cmdline").Replace('\0', ' ').Trim()}):");
        foreach (var task in Directory.EnumerateDirectories($"{dir}/task"))
        {
            var stat = Read($"{task}/stat");
            // The state is the field after the parenthesized name, which may itself hold spaces.
            var state = stat.LastIndexOf(')') is var close and > 0 && close + 2 < stat.Length ? stat[close + 2] : '?';
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  {Path.GetFileName(task)} {Read($"{task}/comm").Trim()} state {state} wchan {Read($"{task}/wchan").Trim()}");
            foreach (var frame in Read($"{task}/stack").Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(MaxStackLines))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"      {frame}");
            }
        }

        foreach (var child in Read($"{dir}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(child, CultureInfo.InvariantCulture, out var childPid))
            {
                Describe(childPid, sb, depth + 1);
            }
        }
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
