using System.Text;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary><c>sharpvisor vm console</c>: the real CLI through a real daemon's console WebSocket.</summary>
public sealed class RemoteConsoleTests(DaemonFixture daemon) : IClassFixture<DaemonFixture>
{
    [KvmFact]
    public async Task PipedInputReachesTheGuestAndTheConsoleExits0WhenTheVmStops()
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "echo-cli", "--guest", "serial-echo", "--memory", "32M")).ExitCode);
        Assert.Equal(0, (await daemon.CliAsync("vm", "start", "echo-cli")).ExitCode);

        // EOT (0x04) ends serial-echo: the guest exits, the VM stops, the daemon closes with 1000.
        var result = await RemoteCli.RunAsync(["vm", "console", "echo-cli", .. daemon.DataDirOption], stdin: RemoteCli.Bytes("hello\u0004"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("serial-echo: ready\nhello\nserial-echo: 5 bytes\n", result.Stdout, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task CtrlAXDetachesFromATerminalAndTheVmKeepsRunning()
    {
        var id = await StartEchoGuestAsync("detach-cli");

        // script(1) gives the CLI a pseudo-terminal, as a user's shell would; the input waits for the attach.
        var cli = $"{SharpvisorProcess.ExecutablePath} vm console detach-cli --data-dir {daemon.DataDirectory}; echo status=$?";
        var shell = $"(sleep 3; printf ab; sleep 2; printf '\\001x') | script -qec \"{cli}\" /dev/null";
        var result = await ProcessRunner.RunAsync("bash", ["-c", shell], timeout: TestTime.Ceiling(TimeSpan.FromMinutes(1)));
        var output = result.Stdout.Replace("\r", "", StringComparison.Ordinal);

        Assert.Contains("serial-echo: ready\nab", output, StringComparison.Ordinal);
        Assert.Contains("sharpvisor: detached from VM detach-cli (it keeps running)\n", output, StringComparison.Ordinal);
        Assert.True(output.Contains("status=0\n", StringComparison.Ordinal), result.ToString());
        Assert.DoesNotContain("^A", output, StringComparison.Ordinal); // raw mode kept the tty from echoing it
        var show = await daemon.CliAsync("vm", "show", id.ToString("D"));
        Assert.Contains("state:       running\n", show.Stdout, StringComparison.Ordinal);

        // The escape never reached the guest: attached again, an EOT makes it count what it got, 2 bytes.
        var count = await RemoteCli.RunAsync(["vm", "console", "detach-cli", .. daemon.DataDirOption], stdin: RemoteCli.Bytes("\u0004"));
        Assert.True(count.ExitCode == 0, count.ToString());
        Assert.Contains("serial-echo: 2 bytes\n", count.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The CLI's WebSocket client through the daemon's proxy to a guest that echoes; the VM is killed under it.</summary>
    [KvmFact]
    public async Task BytesPassBothWaysAndAKilledVmEndsTheConsoleWithStatus0()
    {
        await StartEchoGuestAsync("killed-console-cli");
        using var cli = RemoteCli.Start(["vm", "console", "killed-console-cli", .. daemon.DataDirOption]);
        await cli.StandardInput.BaseStream.WriteAsync(RemoteCli.Bytes("ping")); // the bytes alone: no encoder's preamble
        await cli.StandardInput.BaseStream.FlushAsync();

        // The echo came back through the guest: then the VM goes, and with it the console.
        using var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromMinutes(1)));
        var output = new StringBuilder();
        var buffer = new char[256];
        while (!output.ToString().Contains("serial-echo: ready\nping", StringComparison.Ordinal))
        {
            var read = await cli.StandardOutput.ReadAsync(buffer).AsTask().WaitAsync(limit.Token); // a pipe read ignores the token
            if (read == 0)
            {
                Assert.Fail($"the console ended before the echo: {output}{await cli.StandardError.ReadToEndAsync()}");
            }

            output.Append(buffer, 0, read);
        }

        var killed = await daemon.CliAsync("vm", "kill", "killed-console-cli");
        Assert.True(killed.ExitCode == 0, killed.ToString());
        output.Append(await cli.StandardOutput.ReadToEndAsync().WaitAsync(limit.Token));
        var error = await cli.StandardError.ReadToEndAsync().WaitAsync(limit.Token);
        await cli.WaitForExitAsync(limit.Token);

        Assert.True(cli.ExitCode == 0, $"exit code {cli.ExitCode}: {output}{error}");
        Assert.Equal("serial-echo: ready\nping", output.ToString());
    }

    [Fact]
    public async Task AConsoleOnAVmThatDoesNotRunOrDoesNotExistExits1()
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "idle-cli", "--guest", "idle")).ExitCode);

        var notRunning = await daemon.CliAsync("vm", "console", "idle-cli");
        var unknown = await daemon.CliAsync("vm", "console", "nobody-cli");

        Assert.True(notRunning.ExitCode == 1, notRunning.ToString());
        Assert.Equal("sharpvisor: error: VM idle-cli is defined: start it first (sharpvisor vm start idle-cli)\n", notRunning.Stderr);
        Assert.True(unknown.ExitCode == 1, unknown.ToString());
        Assert.Contains("nobody-cli", unknown.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Creates and starts a VM running the built-in guest that echoes its serial input; returns its id.</summary>
    private async Task<Guid> StartEchoGuestAsync(string name)
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", name, "--guest", "serial-echo", "--memory", "32M")).ExitCode);
        var started = await daemon.CliAsync("vm", "start", name, "--json");
        Assert.True(started.ExitCode == 0, started.ToString());
        return JsonSerializer.Deserialize(started.Stdout, ApiJsonContext.Default.VmResource)!.Id;
    }
}
