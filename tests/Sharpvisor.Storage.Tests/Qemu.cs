using System.Diagnostics;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// Debian's qemu-img and qemu-io (package qemu-utils): the reference every image here is checked against. Without
/// them the tests skip on a developer's machine, but under CI=true they run and fail.
/// </summary>
internal static class Qemu
{
    public static bool IsCi => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>Why the tools cannot be used, or null.</summary>
    public static string? Problem { get; } = Probe();

    public static string? SkipReason => Problem is { } problem && !IsCi
        ? $"{problem} (apt-get install qemu-utils); set CI=true to make this a failure"
        : null;

    public static (int ExitCode, string Stdout, string Stderr) Run(string tool, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} timed out");
        }

        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>Runs qemu-img and insists on success.</summary>
    public static string Img(params string[] args)
    {
        var (code, stdout, stderr) = Run("qemu-img", args);
        Assert.True(code == 0, $"qemu-img {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
        return stdout;
    }

    /// <summary>Runs qemu-io commands (e.g. "write -P 0xab 0 64k") on an image of the given format.</summary>
    public static void Io(string format, string path, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (var command in commands)
        {
            args.Add("-c");
            args.Add(command);
        }

        args.Add(path);
        var (code, stdout, stderr) = Run("qemu-io", [.. args]);
        Assert.True(code == 0 && !stdout.Contains("error", StringComparison.OrdinalIgnoreCase),
            $"qemu-io {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
    }

    /// <summary>qemu-img check's exit code: 0 clean, 2 corruption, 3 leaked clusters only.</summary>
    public static (int ExitCode, string Output) Check(string path)
    {
        var (code, stdout, stderr) = Run("qemu-img", "check", "-f", "qcow2", path);
        return (code, stdout + stderr);
    }

    public static void AssertClean(string path)
    {
        var (code, output) = Check(path);
        Assert.True(code == 0, $"qemu-img check {path} exited {code}: {output}");
    }

    private static string? Probe()
    {
        foreach (var tool in (string[])["qemu-img", "qemu-io"])
        {
            try
            {
                if (Run(tool, "--version").ExitCode != 0)
                {
                    return $"{tool} --version failed";
                }
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                return $"no {tool}: {e.Message}";
            }
        }

        return null;
    }
}

/// <summary>A test that needs qemu-img and qemu-io.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class QemuFactAttribute : FactAttribute
{
    public QemuFactAttribute() => Skip = Qemu.SkipReason;
}

/// <summary>A theory that needs qemu-img and qemu-io.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class QemuTheoryAttribute : TheoryAttribute
{
    public QemuTheoryAttribute() => Skip = Qemu.SkipReason;
}
