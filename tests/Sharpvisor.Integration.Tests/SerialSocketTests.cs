using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Sharpvisor.Integration.Tests;

/// <summary>`sharpvisor run --serial socket:PATH` with the test guest, driven over the console socket.</summary>
public sealed class SerialSocketTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));

    private readonly string _dir = Directory.CreateTempSubdirectory("sv-serial-").FullName;

    private string SocketPath => Path.Combine(_dir, "vm.console");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(Process Process, Task<string> Stderr)> StartAsync(params string[] args)
    {
        var process = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--serial", $"socket:{SocketPath}", .. args]);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow + Limit;
        while (!File.Exists(SocketPath))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                Assert.Fail($"no console socket; exit {(process.HasExited ? process.ExitCode : -1)}\nstderr:\n{await stderr}");
            }

            await Task.Delay(20);
        }

        return (process, stderr);
    }

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        return socket;
    }

    /// <summary>Reads until <paramref name="expected"/> appears in everything read so far (kept in <paramref name="text"/>).</summary>
    private static async Task ReadUntilAsync(Socket socket, StringBuilder text, string expected)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Limit);
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no '{expected}' within {Limit} ({TestTime.Describe()}); got:\n{text}");
            }

            Assert.True(read > 0, $"the console closed before '{expected}'; got:\n{text}");
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
    }

    private static async Task<int> WaitForExitAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException("the VMM did not exit");
        }

        return process.ExitCode;
    }

    [KvmFact]
    public async Task EchoGuestReplaysToEveryClientAndEchoesWhatAnyOfThemTypes()
    {
        var (process, stderr) = await StartAsync("--cmdline", "serial-echo");
        using (process)
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
            using var first = await ConnectAsync();
            var firstText = new StringBuilder();
            await ReadUntilAsync(first, firstText, "serial-echo: ready\n");
            await first.SendAsync("hello from one\n"u8.ToArray());
            await ReadUntilAsync(first, firstText, "hello from one\n");

            // A later client sees the history first, then what the first one types next.
            using var second = await ConnectAsync();
            var secondText = new StringBuilder();
            await ReadUntilAsync(second, secondText, "serial-echo: ready\nhello from one\n");
            await second.SendAsync("and two\n"u8.ToArray());
            await ReadUntilAsync(first, firstText, "and two\n");
            await ReadUntilAsync(second, secondText, "and two\n");

            await first.SendAsync("\u0004"u8.ToArray());
            await ReadUntilAsync(second, secondText, "PASS serial-echo");
            Assert.Equal(1, await WaitForExitAsync(process)); // the test guest's pass status
            Assert.Equal("", await stderr);
        }

        Assert.False(File.Exists(SocketPath), "the console socket was left behind");
    }

    [KvmFact]
    public async Task ShellAnswersCommandsAndPowersOff()
    {
        var (process, stderr) = await StartAsync("--cmdline", "shell");
        using (process)
        {
            using var console = await ConnectAsync();
            var text = new StringBuilder();
            await ReadUntilAsync(console, text, "Sharpvisor test guest \u2014 type 'help'\r\nguest> ");
            await console.SendAsync("echo hi\r"u8.ToArray());
            await ReadUntilAsync(console, text, "echo hi\r\nhi\r\nguest> ");
            await console.SendAsync("cpus\rmem\rfrobnicate\r"u8.ToArray());
            await ReadUntilAsync(console, text, "unknown command: frobnicate\r\nguest> ");
            Assert.Contains("cpus: 1\r\n", text.ToString(), StringComparison.Ordinal);
            Assert.Contains("mem: 127 MiB\r\n", text.ToString(), StringComparison.Ordinal);
            await console.SendAsync("ech\u007fho x\u007fy\r"u8.ToArray());
            await ReadUntilAsync(console, text, "\r\ny\r\nguest> ");

            await console.SendAsync("poweroff\r"u8.ToArray());
            Assert.Equal(0, await WaitForExitAsync(process));
            Assert.Equal("", await stderr);
        }
    }

    [KvmFact]
    public async Task ShellOnStdio()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--cmdline", "shell"], stdin: "help\recho hi there\rpoweroff\r");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("commands: help, uptime, cpus, mem, echo TEXT, poweroff\r\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("\r\nhi there\r\n", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APathTooLongForAUnixSocketIsAUsageError()
    {
        var result = await SharpvisorProcess.RunAsync(["run", "--serial", "socket:/tmp/" + new string('x', 120)]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("too long", result.Stderr, StringComparison.Ordinal);
    }
}
