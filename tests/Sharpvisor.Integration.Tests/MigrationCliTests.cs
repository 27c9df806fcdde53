using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sharpvisor.Control;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Two `sharpvisor run` processes: the destination started with --incoming, the source told to migrate over its
/// control socket, and this test carrying the stream between their unix sockets as the manager (or socat) would.
/// </summary>
public sealed partial class MigrationCliTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(90));

    private readonly string _dir = Directory.CreateTempSubdirectory("sv-migrate-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [KvmFact]
    public async Task AVmMigratesBetweenTwoProcessesAndTheSourceExits()
    {
        var incoming = Path.Combine(_dir, "in.sock");
        var outgoing = Path.Combine(_dir, "out.sock");
        var control = Path.Combine(_dir, "source.sock");
        using var destinationProcess = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--incoming", incoming]);
        using var sourceProcess = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--cmdline", "generation mib=16 every=8", "--control", control]);
        // A failed check must not leave a VMM running its guest for ever.
        using var killDestination = new KillOnDispose(destinationProcess);
        using var killSource = new KillOnDispose(sourceProcess);
        await MigrateAndCheckAsync(destinationProcess, sourceProcess, incoming, outgoing, control);
    }

    private static async Task MigrateAndCheckAsync(Process destinationProcess, Process sourceProcess, string incoming, string outgoing, string control)
    {
        var destination = ProcessRunner.RunUntilAsync(destinationProcess, output => Sweeps(output).Length >= 2, Limit);
        Task<MigrateResult>? migration = null;
        var source = await ProcessRunner.RunUntilAsync(sourceProcess, output =>
        {
            if (migration is null && output.Contains("generation: 16\n", StringComparison.Ordinal))
            {
                migration = MigrateAsync(control, outgoing, incoming);
            }

            return migration is { IsCompleted: true } && sourceProcess.HasExited;
        }, Limit);

        var result = await migration!;
        Assert.Equal("stopping", result.State);
        Assert.True(result.Rounds >= 2, $"{result.Rounds} rounds");
        Assert.Equal(0, source.ExitCode);

        var moved = await destination;
        Assert.DoesNotContain("window", moved.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", moved.Stdout, StringComparison.Ordinal);
        var before = Sweeps(source.Stdout).Max();
        Assert.True(Sweeps(moved.Stdout)[0] > before, $"the destination went on at sweep {Sweeps(moved.Stdout)[0]}, the source had printed {before}");
        Assert.False(File.Exists(incoming), "the destination removes its socket once connected");
        Assert.False(File.Exists(outgoing), "the source removes its socket once connected");
    }

    [KvmFact]
    public async Task AMigrationNobodyCarriesFailsAndTheSourceRunsOn()
    {
        var control = Path.Combine(_dir, "source.sock");
        using var sourceProcess = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--cmdline", "generation mib=1 every=64", "--control", control]);
        using var killOnFailure = new KillOnDispose(sourceProcess);
        Task<ControlResponse>? migration = null;
        var printedAtFailure = -1;
        var source = await ProcessRunner.RunUntilAsync(sourceProcess, output =>
        {
            if (migration is null && output.Contains("generation: 64\n", StringComparison.Ordinal))
            {
                migration = RefusedMigrationAsync(control);
            }

            if (migration is { IsCompleted: true } && printedAtFailure < 0)
            {
                printedAtFailure = output.Length;
            }

            return printedAtFailure >= 0 && output.Length > printedAtFailure && output.EndsWith('\n');
        }, Limit);

        var response = await migration!;
        Assert.False(response.Ok);
        Assert.Equal("the migration failed, the VM runs on here: the other side answered 'NO' instead of READY", response.Error);
        Assert.DoesNotContain("FAIL", source.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Asks the source to migrate, connects to its socket and the destination's, and carries the bytes both ways.</summary>
    internal static async Task<MigrateResult> MigrateAsync(string control, string outgoing, string incoming)
    {
        using var client = await ControlClient.ConnectAsync(control);
        var result = client.MigrateAsync(new ControlArguments { Path = outgoing, DowntimeMs = 300 });
        using var from = await ConnectWhenListeningAsync(outgoing);
        using var to = await ConnectWhenListeningAsync(incoming);
        var forward = CopyAsync(from, to);
        var back = CopyAsync(to, from);
        var migrated = await result.WaitAsync(Limit);
        await Task.WhenAll(forward, back).WaitAsync(Limit);
        return migrated;
    }

    /// <summary>A "destination" that reads the whole stream and says NO instead of READY.</summary>
    private static async Task<ControlResponse> RefusedMigrationAsync(string control)
    {
        var outgoing = Path.Combine(Path.GetDirectoryName(control)!, "out.sock");
        using var client = await ControlClient.ConnectAsync(control);
        var response = client.SendAsync(ControlCommands.Migrate, new ControlArguments { Path = outgoing });
        using (var from = await ConnectWhenListeningAsync(outgoing))
        using (var stream = new NetworkStream(from))
        {
            var buffer = new byte[1 << 16];
            var tail = new List<byte>();
            while (!EndsWithEndMarker(tail))
            {
                var read = await stream.ReadAsync(buffer);
                Assert.True(read > 0, "the stream ended before its end marker");
                tail.AddRange(buffer.AsSpan(0, read));
                tail.RemoveRange(0, Math.Max(0, tail.Count - 64));
            }

            await stream.WriteAsync("NO\n"u8.ToArray());
            return await response.WaitAsync(Limit);
        }
    }

    // The end section: tag "END ", version 1, length 0, then the CRC32C of nothing (0).
    private static bool EndsWithEndMarker(List<byte> tail) =>
        tail.Count >= 20 && tail.Skip(tail.Count - 20).SequenceEqual("END "u8.ToArray().Concat(new byte[] { 1, 0, 0, 0 }).Concat(new byte[12]));

    private static async Task<Socket> ConnectWhenListeningAsync(string path)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                return socket;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(20);
            }
        }
    }

    private static async Task CopyAsync(Socket from, Socket to)
    {
        var buffer = new byte[1 << 16];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read));
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // One side is gone: the other learns it from its own end.
        }
    }

    /// <summary>Kills the process, if it still runs, when the test ends however it ends.</summary>
    private sealed class KillOnDispose(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static long[] Sweeps(string output) =>
        [.. SweepLine().Matches(output).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    [GeneratedRegex(@"generation: (\d+)\n")]
    private static partial Regex SweepLine();
}
