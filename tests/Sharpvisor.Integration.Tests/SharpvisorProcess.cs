using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>Runs the real `sharpvisor` executable (built beside the tests) and captures what it prints.</summary>
internal static class SharpvisorProcess
{
    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "sharpvisor");

    public static async Task<ProcessResult> RunAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(ExecutablePath)
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

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            await process.StandardInput.FlushAsync();
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"sharpvisor {string.Join(' ', info.ArgumentList)} did not exit within {timeout}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}

internal sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"exit code {ExitCode}");
        sb.AppendLine("--- stdout ---").AppendLine(Stdout);
        sb.AppendLine("--- stderr ---").AppendLine(Stderr);
        return sb.ToString();
    }
}
