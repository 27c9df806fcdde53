using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The serial console on a real terminal: `script` gives sharpvisor a pseudo-terminal, as an interactive user
/// would have. The console must be raw while the guest runs (no echo by the host's tty), Ctrl-A x must quit,
/// and the terminal must be back in its normal mode afterwards.
/// </summary>
public sealed class TerminalTests
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromMinutes(1));

    [KvmFact]
    public async Task CtrlAXQuitsAndTheTerminalModeIsRestored()
    {
        using var process = ProcessRunner.Start(
            "script", ["-qec", $"{SharpvisorProcess.ExecutablePath} run --cmdline serial-echo; echo status=$?; stty -a", "/dev/null"]);
        var stderr = process.StandardError.ReadToEndAsync();
        var output = new StringBuilder();
        using var deadline = new CancellationTokenSource(Limit);
        try
        {
            // Each keystroke waits for the guest: typed before it is up, input would reach the cooked tty instead.
            await ReadUntilAsync(process, output, "serial-echo: ready", deadline.Token);
            await TypeAsync(process, "ab");
            await ReadUntilAsync(process, output, "serial-echo: ready\r\nab", deadline.Token);
            await TypeAsync(process, "\u0001x");
            await ReadUntilAsync(process, output, "icanon", deadline.Token); // stty -a ran: sharpvisor has exited
            process.StandardInput.Close();
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"not done within {Limit}; output so far:\n{output}\nstderr:\n{await stderr}");
        }

        var text = output.Replace("\r", "").ToString();
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n{text}\nstderr:\n{await stderr}");
        Assert.Contains("serial-echo: ready\nab", text, StringComparison.Ordinal);
        Assert.True(text.Contains("status=0\n", StringComparison.Ordinal), $"sharpvisor did not exit 0:\n{text}");
        // A tty in raw mode echoes nothing itself: the only "ab" is the guest's echo, and no "^A" appears.
        Assert.DoesNotContain("^A", text, StringComparison.Ordinal);
        // stty after the exit: canonical mode and echo are back on.
        Assert.Matches(@"(?<!-)icanon", text);
        Assert.Matches(@"(?<![-\w])echo(?=\s)", text);
    }

    private static async Task TypeAsync(System.Diagnostics.Process process, string keys)
    {
        await process.StandardInput.WriteAsync(keys);
        await process.StandardInput.FlushAsync();
    }

    private static async Task ReadUntilAsync(System.Diagnostics.Process process, StringBuilder output, string expected, CancellationToken cancellationToken)
    {
        var buffer = new char[4096];
        while (!output.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var read = await process.StandardOutput.ReadAsync(buffer, cancellationToken);
            Assert.True(read > 0, $"the terminal closed before '{expected}'; output:\n{output}");
            output.Append(buffer, 0, read);
        }
    }
}
