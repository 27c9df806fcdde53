using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sharpvisor.Control;

namespace Sharpvisor.Integration.Tests;

/// <summary>`sharpvisor run --control PATH` with the test guest's never-ending `idle` scenario, driven over the socket.</summary>
public sealed class ControlSocketTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));

    private readonly string _dir = Directory.CreateTempSubdirectory("sv-control-").FullName;

    private string SocketPath => Path.Combine(_dir, "vm.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Starts the VMM and waits for its socket; the caller stops it.</summary>
    private async Task<(Process Process, Task<string> Stdout, Task<string> Stderr)> StartAsync(params string[] extra)
    {
        var process = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--cmdline", "idle", "--control", SocketPath, .. extra]);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow + Limit;
        while (!await AcceptsConnectionsAsync(SocketPath))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                Assert.Fail($"no control socket; exit {(process.HasExited ? process.ExitCode : -1)}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
            }

            await Task.Delay(20);
        }

        return (process, stdout, stderr);
    }

    private static async Task<bool> AcceptsConnectionsAsync(string path)
    {
        try
        {
            using var probe = await ControlClient.ConnectAsync(path);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task WaitForExitAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException("the VMM did not exit after stop");
        }
    }

    private static async Task<long> WaitForExitsBeyondAsync(ControlClient client, long count)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (true)
        {
            var total = (await client.MetricsAsync()).TotalExits;
            if (total > count)
            {
                return total;
            }

            Assert.True(DateTime.UtcNow < deadline, $"exits stayed at {total}");
            await Task.Delay(20);
        }
    }

    [KvmFact]
    public async Task StatusPauseResumeMetricsAndStopOverTheSocket()
    {
        var (process, stdout, stderr) = await StartAsync();
        using (process)
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));

            var status = await client.StatusAsync();
            Assert.Equal("running", status.State);
            Assert.Equal(process.Id, status.Pid);
            Assert.Equal(1, status.Vcpus);
            Assert.Equal(128L << 20, (long)status.MemoryBytes);
            Assert.True(status.UptimeMs >= 0);

            await WaitForExitsBeyondAsync(client, 20);
            Assert.Equal("paused", await client.ChangeStateAsync(ControlCommands.Pause));
            Assert.Equal("paused", (await client.StatusAsync()).State);
            var frozen = (await client.MetricsAsync()).TotalExits;
            await Task.Delay(250);
            Assert.Equal(frozen, (await client.MetricsAsync()).TotalExits);
            Assert.Equal("paused", await client.ChangeStateAsync(ControlCommands.Pause));

            Assert.Equal("running", await client.ChangeStateAsync(ControlCommands.Resume));
            Assert.Equal("running", (await client.StatusAsync()).State);
            await WaitForExitsBeyondAsync(client, frozen);

            var metrics = await client.MetricsAsync();
            var vcpu = Assert.Single(metrics.Vcpus);
            Assert.Equal(0, vcpu.Id);
            Assert.True(vcpu.Exits["io"] > 0);
            Assert.Equal(vcpu.Exits.Values.Sum(), vcpu.TotalExits);
            Assert.Equal(metrics.Vcpus.Sum(v => v.TotalExits), metrics.TotalExits);
            Assert.True(metrics.RssBytes > 1 << 20);
            Assert.NotNull(metrics.EmulationAssist);
            Assert.Empty(metrics.Devices);

            Assert.Equal("stopping", await client.ChangeStateAsync(ControlCommands.Stop));
            await WaitForExitAsync(process);
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
            Assert.Contains("idle: ready", await stdout, StringComparison.Ordinal);
            Assert.False(File.Exists(SocketPath));
        }
    }

    [KvmFact]
    public async Task MetricsListTheVirtioDevicesBySlot()
    {
        var disk = Path.Combine(_dir, "disk.img");
        using (var file = File.Create(disk))
        {
            file.SetLength(1 << 20);
        }

        var (process, _, _) = await StartAsync("--disk", disk, "--rng");
        using (process)
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            var metrics = await client.MetricsAsync();
            Assert.Collection(
                metrics.Devices,
                block =>
                {
                    Assert.Equal((1, "block"), (block.Slot, block.Type));
                    Assert.Equal(0, block.Counters["completed"]);
                },
                rng =>
                {
                    Assert.Equal((2, "rng"), (rng.Slot, rng.Type));
                    Assert.Equal(new Dictionary<string, long> { ["guest_errors"] = 0 }, rng.Counters); // every function counts its driver's errors
                });

            await client.ChangeStateAsync(ControlCommands.Stop);
            await WaitForExitAsync(process);
            Assert.Equal(0, process.ExitCode);
        }
    }

    [KvmFact]
    public async Task BadRequestsGetErrorsAndTheVmmKeepsRunning()
    {
        var (process, _, _) = await StartAsync();
        using (process)
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            await client.SendLineAsync("this is not json\n"u8.ToArray());
            var bad = ControlCodec.DecodeResponse(await client.ReadLineAsync());
            Assert.False(bad.Ok);
            Assert.Null(bad.Id);

            var unknown = await client.SendAsync("reboot-the-world");
            Assert.False(unknown.Ok);
            Assert.Contains("unknown command", unknown.Error, StringComparison.Ordinal);

            using (var flood = await ControlClient.ConnectAsync(SocketPath))
            {
                await flood.SendLineAsync(Encoding.ASCII.GetBytes(new string('{', 70_000)));
                var tooLong = ControlCodec.DecodeResponse(await flood.ReadLineAsync());
                Assert.Contains("longer than 65536 bytes", tooLong.Error, StringComparison.Ordinal);
            }

            using var silent = await ControlClient.ConnectAsync(SocketPath);
            Assert.Equal("running", (await client.StatusAsync()).State);
            Assert.False(process.HasExited);

            await client.ChangeStateAsync(ControlCommands.Stop);
            await WaitForExitAsync(process);
            Assert.Equal(0, process.ExitCode);
        }
    }

    [KvmFact]
    public async Task TwoClientsAtOnce()
    {
        var (process, _, _) = await StartAsync("--cpus", "2");
        using (process)
        {
            using var first = await ControlClient.ConnectAsync(SocketPath);
            using var second = await ControlClient.ConnectAsync(SocketPath);
            var a = Task.Run(async () =>
            {
                for (var i = 0; i < 20; i++)
                {
                    Assert.Equal(2, (await first.MetricsAsync()).Vcpus.Count);
                }
            });
            var b = Task.Run(async () =>
            {
                for (var i = 0; i < 10; i++)
                {
                    Assert.Equal("paused", await second.ChangeStateAsync(ControlCommands.Pause));
                    Assert.Equal("running", await second.ChangeStateAsync(ControlCommands.Resume));
                }
            });
            await Task.WhenAll(a, b).WaitAsync(Limit);

            Assert.Equal("running", (await first.StatusAsync()).State);
            await second.ChangeStateAsync(ControlCommands.Stop);
            await WaitForExitAsync(process);
            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(SocketPath));
        }
    }

    [KvmFact]
    public async Task StopWhilePausedExitsAndSigtermStillRemovesTheSocket()
    {
        var (process, _, _) = await StartAsync();
        using (process)
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            Assert.Equal("paused", await client.ChangeStateAsync(ControlCommands.Pause));
            ProcessRunner.Terminate(process);
            await WaitForExitAsync(process);
            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(SocketPath));
        }
    }

    [KvmFact]
    public async Task AStaleSocketFileIsReplacedAndALiveOneIsNot()
    {
        File.WriteAllText(SocketPath, "left behind");
        var (process, _, _) = await StartAsync();
        using (process)
        {
            using var client = await ControlClient.ConnectAsync(SocketPath);
            Assert.Equal("running", (await client.StatusAsync()).State);

            var second = await SharpvisorProcess.RunAsync(["run", "--cmdline", "idle", "--control", SocketPath], timeout: Limit);
            Assert.Equal(2, second.ExitCode);
            Assert.Contains("another process accepts connections", second.Stderr, StringComparison.Ordinal);
            Assert.True(File.Exists(SocketPath));
            Assert.Equal("running", (await client.StatusAsync()).State);

            await client.ChangeStateAsync(ControlCommands.Stop);
            await WaitForExitAsync(process);
        }
    }
}
