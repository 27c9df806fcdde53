namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Debian's qemu-img and qemu-io (package qemu-utils), the reference the image commands are checked against. Without
/// them the tests skip on a developer's machine; under CI=true they run and fail.
/// </summary>
internal static class QemuUtils
{
    /// <summary>Why the tools cannot be used, or null.</summary>
    public static string? Problem { get; } = Probe();

    public static string? SkipReason => Problem is { } problem && Environment.GetEnvironmentVariable("CI") != "true"
        ? $"{problem} (apt-get install qemu-utils); set CI=true to make this a failure"
        : null;

    public static Task<ProcessResult> RunAsync(string tool, params string[] args) => ProcessRunner.RunAsync(tool, args);

    /// <summary>Runs qemu-img and insists on success; returns its stdout.</summary>
    public static async Task<string> ImgAsync(params string[] args)
    {
        var result = await RunAsync("qemu-img", args);
        Assert.True(result.ExitCode == 0, $"qemu-img {string.Join(' ', args)}: {result}");
        return result.Stdout;
    }

    /// <summary>Runs qemu-io commands ("write -P 0xab 0 64k") on an image and insists that all of them succeed.</summary>
    public static async Task IoAsync(string format, string path, params string[] commands)
    {
        string[] args = ["-f", format, .. commands.SelectMany(command => new[] { "-c", command }), path];
        var result = await RunAsync("qemu-io", args);
        Assert.True(result.ExitCode == 0 && !result.Stdout.Contains("error", StringComparison.OrdinalIgnoreCase) && !result.Stdout.Contains("Pattern verification failed", StringComparison.Ordinal),
            $"qemu-io {string.Join(' ', args)}: {result}");
    }

    private static string? Probe()
    {
        foreach (var tool in (string[])["/usr/bin/qemu-img", "/usr/bin/qemu-io"])
        {
            if (!File.Exists(tool))
            {
                return $"no {tool}";
            }
        }

        return null;
    }
}

/// <summary>A test that needs qemu-img and qemu-io (no KVM).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class QemuUtilsFactAttribute : FactAttribute
{
    public QemuUtilsFactAttribute() => Skip = QemuUtils.SkipReason;
}
