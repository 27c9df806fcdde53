namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The serial console on a real terminal: `script` gives sharpvisor a pseudo-terminal, as an interactive user
/// would have. The console must be raw while the guest runs (no echo by the host's tty), Ctrl-A x must quit,
/// and the terminal must be back in its normal mode afterwards.
/// </summary>
public sealed class TerminalTests
{
    [KvmFact]
    public async Task CtrlAXQuitsAndTheTerminalModeIsRestored()
    {
        // The input waits until the guest is up, so it reaches the raw console rather than the cooked tty.
        var shell = $"(sleep 2; printf ab; sleep 1; printf '\\001x') | script -qec \"{SharpvisorProcess.ExecutablePath} run --cmdline serial-echo; echo status=\\$?; stty -a\" /dev/null";
        var result = await ProcessRunner.RunAsync("bash", ["-c", shell], timeout: TimeSpan.FromMinutes(1));
        var output = result.Stdout.Replace("\r", "", StringComparison.Ordinal);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("serial-echo: ready\nab", output, StringComparison.Ordinal);
        Assert.True(output.Contains("status=0\n", StringComparison.Ordinal), $"sharpvisor did not exit 0:\n{output}");
        // A tty in raw mode echoes nothing itself: the only "ab" is the guest's echo, and no "^A" appears.
        Assert.DoesNotContain("^A", output, StringComparison.Ordinal);
        // stty after the exit: canonical mode and echo are back on.
        Assert.Matches(@"(?<!-)icanon", output);
        Assert.Matches(@"(?<![-\w])echo(?=\s)", output);
    }
}
