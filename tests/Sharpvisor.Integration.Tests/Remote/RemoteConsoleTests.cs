using System.Net.Sockets;
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
        var (id, listener) = await StartWithPlayedConsoleAsync("detach-cli");
        using var _ = listener;
        var guest = EchoGuestAsync(listener);

        // script(1) gives the CLI a pseudo-terminal, as a user's shell would; the input waits for the attach.
        var cli = $"{SharpvisorProcess.ExecutablePath} vm console detach-cli --data-dir {daemon.DataDirectory}; echo status=$?";
        var shell = $"(sleep 3; printf ab; sleep 2; printf '\\001x') | script -qec \"{cli}\" /dev/null";
        var result = await ProcessRunner.RunAsync("bash", ["-c", shell], timeout: TestTime.Ceiling(TimeSpan.FromMinutes(1)));
        var output = result.Stdout.Replace("\r", "", StringComparison.Ordinal);

        Assert.Contains("banner\nab", output, StringComparison.Ordinal);
        Assert.Contains("sharpvisor: detached from VM detach-cli (it keeps running)\n", output, StringComparison.Ordinal);
        Assert.True(output.Contains("status=0\n", StringComparison.Ordinal), result.ToString());
        // The escape never reached the guest, and raw mode kept the tty from echoing ^A.
        Assert.Equal("ab", await guest);
        Assert.DoesNotContain("^A", output, StringComparison.Ordinal);
        var show = await daemon.CliAsync("vm", "show", id.ToString("D"));
        Assert.Contains("state:       running\n", show.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await daemon.CliAsync("vm", "kill", "detach-cli")).ExitCode);
    }

    /// <summary>
    /// The CLI's WebSocket client through the daemon's proxy, with the test in the VMM's place at the console socket
    /// (RUNDIR/ID.console, taken over): the daemon and the CLI are real, only the guest's end is played.
    /// </summary>
    [KvmFact]
    public async Task BytesPassBothWaysAndAClose1000Exits0()
    {
        var (_, listener) = await StartWithPlayedConsoleAsync("fake-console-cli");
        using var _ = listener;
        // The VM stops (killed) before its console hangs up, as a real VMM's console ends with the VM.
        var guest = PlayGuestAsync(listener, () => daemon.CliAsync("vm", "kill", "fake-console-cli"));

        var result = await RemoteCli.RunAsync(["vm", "console", "fake-console-cli", .. daemon.DataDirOption], stdin: RemoteCli.Bytes("ping\n"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("banner\npong:ping\n", result.Stdout);
        Assert.Equal("ping\n", await guest);
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

    /// <summary>Starts an idle VM and takes its console socket over (the VMM's own, once it has one).</summary>
    private async Task<(Guid Id, Socket Listener)> StartWithPlayedConsoleAsync(string name)
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", name, "--guest", "idle", "--memory", "32M")).ExitCode);
        var started = await daemon.CliAsync("vm", "start", name, "--json");
        var id = JsonSerializer.Deserialize(started.Stdout, ApiJsonContext.Default.VmResource)!.Id;
        var path = Path.Combine(daemon.DataDirectory, "run", $"{id:D}", "vm.console");
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        return (id, listener);
    }

    /// <summary>Prints a banner and echoes every byte until the daemon hangs up (the client left); returns what it got.</summary>
    private static async Task<string> EchoGuestAsync(Socket listener)
    {
        using var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromMinutes(1)));
        using var connection = await listener.AcceptAsync(limit.Token);
        await connection.SendAsync(Encoding.ASCII.GetBytes("banner\n"), SocketFlags.None, limit.Token);
        var received = new StringBuilder();
        var buffer = new byte[256];
        int read;
        while ((read = await connection.ReceiveAsync(buffer, SocketFlags.None, limit.Token)) > 0)
        {
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            await connection.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, limit.Token);
        }

        return received.ToString();
    }

    /// <summary>Prints a banner, reads a line, answers it and hangs up, as a VMM whose guest then stopped; returns what it read.</summary>
    private static async Task<string> PlayGuestAsync(Socket listener, Func<Task<ProcessResult>> stopVm)
    {
        using var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromMinutes(1)));
        using var connection = await listener.AcceptAsync(limit.Token);
        await connection.SendAsync(Encoding.ASCII.GetBytes("banner\n"), SocketFlags.None, limit.Token);
        var received = new StringBuilder();
        var buffer = new byte[256];
        while (!received.ToString().EndsWith('\n'))
        {
            var read = await connection.ReceiveAsync(buffer, SocketFlags.None, limit.Token);
            Assert.NotEqual(0, read);
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        await connection.SendAsync(Encoding.ASCII.GetBytes("pong:" + received), SocketFlags.None, limit.Token);
        await Task.Delay(500); // the pong reaches the client before the end
        var stopped = await stopVm();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        connection.Shutdown(SocketShutdown.Both);
        return received.ToString();
    }
}
