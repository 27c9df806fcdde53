using System.Diagnostics;

namespace Sharpvisor.Kvm.Tests;

/// <summary>Compiles and runs a small C program with gcc, returning its "key value" output lines.</summary>
internal static class NativeProbe
{
    public static Dictionary<string, long> Run(string name, string source)
    {
        var dir = Directory.CreateTempSubdirectory("sharpvisor-probe-").FullName;
        try
        {
            var c = Path.Combine(dir, name + ".c");
            var exe = Path.Combine(dir, name);
            File.WriteAllText(c, source);
            var (compileCode, compileOutput) = Exec("gcc", $"-std=gnu11 -Wall -Werror -o {exe} {c}");
            Assert.True(compileCode == 0, "gcc failed:\n" + compileOutput + "\n" + source);
            var (runCode, runOutput) = Exec(exe, "");
            Assert.Equal(0, runCode);
            return runOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(parts => parts[0], parts => long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int Code, string Output) Exec(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }
}
