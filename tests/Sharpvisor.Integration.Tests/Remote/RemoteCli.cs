using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>Runs the real <c>sharpvisor</c> CLI with a clean environment for the daemon's variables.</summary>
internal static class RemoteCli
{
    public static async Task<ProcessResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, byte[]? stdin = null)
    {
        using var process = Start(args, environment);
        return await CollectAsync(process, stdin);
    }

    /// <summary>
    /// Starts the CLI; SHARPVISOR_URL, SHARPVISOR_TOKEN and SHARPVISOR_DATA_DIR are removed from the inherited
    /// environment so only what the test passes counts.
    /// </summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(SharpvisorProcess.ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in new[] { "SHARPVISOR_URL", "SHARPVISOR_TOKEN", "SHARPVISOR_DATA_DIR" })
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return Process.Start(info)!;
    }

    public static Task<ProcessResult> CollectAsync(Process process, byte[]? stdin = null, TimeSpan? timeout = null) =>
        ProcessRunner.CollectAsync(process, stdin, timeout);

    /// <summary>Each line of the output, without the line ends.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text);
}
