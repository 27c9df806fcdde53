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
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        ProcessRunner.Start(SharpvisorProcess.ExecutablePath, args, inherited =>
        {
            foreach (var name in new[] { "SHARPVISOR_URL", "SHARPVISOR_TOKEN", "SHARPVISOR_DATA_DIR", "SHARPVISOR_FINGERPRINT" })
            {
                inherited.Remove(name);
            }

            foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            {
                inherited[name] = value;
            }
        });

    public static Task<ProcessResult> CollectAsync(Process process, byte[]? stdin = null, TimeSpan? timeout = null) =>
        ProcessRunner.CollectAsync(process, stdin, timeout);

    /// <summary>Each line of the output, without the line ends.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text);
}
