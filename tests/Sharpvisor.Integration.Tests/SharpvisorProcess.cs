using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>Runs the real `sharpvisor` executable (built beside the tests) and captures what it prints.</summary>
internal static class SharpvisorProcess
{
    public static string ExecutablePath => TestBinaries.Sharpvisor;

    public static Task<ProcessResult> RunAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(ExecutablePath, args, stdin, timeout);

    /// <summary>Runs until <paramref name="done"/> holds for the output so far, then sends SIGTERM and waits for the exit.</summary>
    public static async Task<ProcessResult> RunUntilAsync(IEnumerable<string> args, Func<string, bool> done, TimeSpan? timeout = null)
    {
        using var process = ProcessRunner.Start(ExecutablePath, args);
        return await ProcessRunner.RunUntilAsync(process, done, timeout ?? TestTime.Ceiling(TimeSpan.FromMinutes(2)));
    }
}

/// <summary>Starts processes with redirected streams and a time limit.</summary>
internal static class ProcessRunner
{
    /// <summary>
    /// Reads the started <paramref name="process"/>'s standard output until <paramref name="done"/> holds for what
    /// came so far (or it ends), then sends SIGTERM and waits for the exit. <paramref name="done"/> is asked again at
    /// least every 100 ms, so it may also look outside the output (a file the process writes). After
    /// <paramref name="limit"/> the process is killed and the exception says where its threads were.
    /// </summary>
    public static async Task<ProcessResult> RunUntilAsync(Process process, Func<string, bool> done, TimeSpan limit)
    {
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(limit);
        string? threads = null;
        // Killing the process on time-out ends a read that would otherwise wait forever for output.
        using var killOnDeadline = deadline.Token.Register(() =>
        {
            threads = ProcessDiagnostics.Threads(process.Id);
            process.Kill(entireProcessTree: true);
        });
        var buffer = new char[4096];
        var read = process.StandardOutput.ReadAsync(buffer).AsTask();
        while (!done(stdout.ToString()))
        {
            if (await Task.WhenAny(read, Task.Delay(100)) != read)
            {
                continue;
            }

            if (await read == 0)
            {
                break;
            }

            stdout.Append(buffer, 0, read.Result);
            read = process.StandardOutput.ReadAsync(buffer).AsTask();
        }

        if (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"condition not met within {limit} ({TestTime.Describe()}); output so far:\n{stdout}\nstderr:\n{await stderr}\n{threads}");
        }

        if (!process.HasExited)
        {
            Terminate(process);
        }

        if (!read.IsCompleted || read.Result > 0)
        {
            stdout.Append(buffer, 0, await read);
            stdout.Append(await process.StandardOutput.ReadToEndAsync());
        }

        await process.WaitForExitAsync();
        return new ProcessResult(process.ExitCode, stdout.ToString(), await stderr);
    }

    /// <summary>Starts with all three standard streams redirected; <paramref name="environment"/> edits the inherited environment.</summary>
    public static Process Start(string file, IEnumerable<string> args, Action<IDictionary<string, string?>>? environment = null)
    {
        var info = new ProcessStartInfo(file)
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

        environment?.Invoke(info.Environment);
        return Process.Start(info)!;
    }

    public static async Task<ProcessResult> RunAsync(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        using var process = Start(file, args);
        return await CollectAsync(process, stdin is null ? null : Encoding.UTF8.GetBytes(stdin), timeout);
    }

    /// <summary>Feeds <paramref name="stdin"/> (then end of input), waits for the exit and returns all the output; kills it after the timeout.</summary>
    public static async Task<ProcessResult> CollectAsync(Process process, byte[]? stdin = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TestTime.Ceiling(TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
            await process.StandardInput.BaseStream.FlushAsync();
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{process.StartInfo.FileName} {string.Join(' ', process.StartInfo.ArgumentList)} did not exit within {limit}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>SIGTERM, the polite stop a supervisor sends.</summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
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
