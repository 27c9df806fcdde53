using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// A running `sharpvisor run` whose serial console (stdio) a test drives as a user would: it types lines and waits
/// for text to appear. Every wait has a ceiling (scaled by <see cref="TestTime"/>); when one passes, the VMM is killed
/// and the failure shows the console so far and where the VMM's threads were.
/// </summary>
internal sealed class GuestConsole : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();
    private readonly Task _reader;
    private readonly Task<string> _stderr;

    private GuestConsole(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>Starts the VMM (or whatever <paramref name="info"/> runs, e.g. inside a network namespace).</summary>
    public static GuestConsole Start(ProcessStartInfo info) => new(Process.Start(info)!);

    public static GuestConsole Start(IEnumerable<string> args) =>
        new(ProcessRunner.Start(SharpvisorProcess.ExecutablePath, args));

    /// <summary>Everything the console printed so far, carriage returns removed.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString().Replace("\r", "", StringComparison.Ordinal);
            }
        }
    }

    /// <summary>Types <paramref name="line"/> and Enter.</summary>
    public async Task TypeLineAsync(string line)
    {
        await _process.StandardInput.WriteAsync(line + "\n");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits until <paramref name="text"/> has been printed <paramref name="times"/> times; returns the output.</summary>
    public async Task<string> WaitForAsync(string text, TimeSpan onAQuietMachine, int times = 1)
    {
        var limit = TestTime.Ceiling(onAQuietMachine);
        var clock = Stopwatch.StartNew();
        while (Count(Output, text) < times)
        {
            if (_reader.IsCompleted)
            {
                Assert.Fail($"the VMM ended before printing '{text}' ({times} times):\n{await DescribeAsync()}");
            }

            if (clock.Elapsed > limit)
            {
                var threads = ProcessDiagnostics.Threads(_process.Id);
                _process.Kill(entireProcessTree: true);
                Assert.Fail($"'{text}' did not appear ({times} times) within {limit} ({TestTime.Describe()}):\n{await DescribeAsync()}\n{threads}");
            }

            await Task.Delay(50);
        }

        return Output;
    }

    /// <summary>Waits for the VMM to exit (it must, within the ceiling) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan onAQuietMachine)
    {
        var limit = TestTime.Ceiling(onAQuietMachine);
        using var deadline = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            var threads = ProcessDiagnostics.Threads(_process.Id);
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"the VMM did not exit within {limit}:\n{await DescribeAsync()}\n{threads}");
        }

        await _reader;
        return _process.ExitCode;
    }

    /// <summary>The console and the VMM's stderr, for a failure message.</summary>
    public async Task<string> DescribeAsync()
    {
        var stderr = _process.HasExited ? await _stderr : "(still running)";
        return $"--- console ---\n{Output}\n--- stderr ---\n{stderr}";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        await _reader;
        _process.Dispose();
    }

    private static int Count(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private async Task ReadAsync()
    {
        var buffer = new char[4096];
        int read;
        while ((read = await _process.StandardOutput.ReadAsync(buffer)) > 0)
        {
            lock (_lock)
            {
                _output.Append(buffer, 0, read);
            }
        }
    }
}
