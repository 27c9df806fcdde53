using System.Diagnostics;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Acpi;

/// <summary>
/// A test that needs the ACPICA compiler/disassembler (Debian package acpica-tools). Without iasl on PATH it is
/// skipped on a developer's machine, but under CI=true it runs and fails, so a green CI means iasl really checked
/// the tables.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class IaslFactAttribute : FactAttribute
{
    public IaslFactAttribute()
    {
        if (Iasl.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>The theory form of <see cref="IaslFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class IaslTheoryAttribute : TheoryAttribute
{
    public IaslTheoryAttribute()
    {
        if (Iasl.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>What one iasl run printed and left behind.</summary>
internal sealed record IaslResult(int ExitCode, string Output, string? OutputFileText, byte[]? OutputFileBytes);

/// <summary>Runs iasl in a scratch directory per call, so parallel tests never see each other's files.</summary>
internal static class Iasl
{
    public static string? Path { get; } = Find();

    public static string? SkipReason =>
        Path is null && !IsCi ? "iasl not found on PATH (apt-get install acpica-tools); set CI=true to make this a failure" : null;

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>iasl -d NAME.dat</c>: disassembles a binary table; the result carries NAME.dsl.</summary>
    public static IaslResult Disassemble(string name, byte[] table) =>
        Run(name + ".dat", table, ["-d"], name + ".dsl", binaryOutput: false);

    /// <summary><c>iasl [options] NAME.dsl</c>: compiles ASL or a data-table source; the result carries NAME.aml.</summary>
    public static IaslResult Compile(string name, string source, params string[] options) =>
        Run(name + ".dsl", System.Text.Encoding.ASCII.GetBytes(source), options, name + ".aml", binaryOutput: true);

    private static IaslResult Run(string inputName, byte[] input, string[] options, string outputName, bool binaryOutput)
    {
        var iasl = Path ?? throw new InvalidOperationException("iasl not found on PATH; install acpica-tools (CI=true makes this a failure, not a skip)");
        var directory = Directory.CreateTempSubdirectory("sharpvisor-iasl-");
        try
        {
            File.WriteAllBytes(System.IO.Path.Combine(directory.FullName, inputName), input);
            var start = new ProcessStartInfo(iasl)
            {
                WorkingDirectory = directory.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var option in options)
            {
                start.ArgumentList.Add(option);
            }

            start.ArgumentList.Add(inputName);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            var output = stdout + stderr.Result;

            var outputPath = System.IO.Path.Combine(directory.FullName, outputName);
            var exists = File.Exists(outputPath);
            return new IaslResult(
                process.ExitCode,
                output,
                exists && !binaryOutput ? File.ReadAllText(outputPath) : null,
                exists && binaryOutput ? File.ReadAllBytes(outputPath) : null);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "iasl"))
            .FirstOrDefault(File.Exists);
}
