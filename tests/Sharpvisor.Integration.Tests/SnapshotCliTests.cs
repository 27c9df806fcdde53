using System.Globalization;
using System.Text.RegularExpressions;
using Sharpvisor.Control;

namespace Sharpvisor.Integration.Tests;

/// <summary>`sharpvisor run` processes: a snapshot over the control socket, then `run --restore` in a new process.</summary>
public sealed partial class SnapshotCliTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(90));

    private readonly string _dir = Directory.CreateTempSubdirectory("sv-snapshot-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Snapshot => Path.Combine(_dir, "vm.snap");

    /// <summary>Runs the generation guest, snapshots it once it printed sweep 16, and stops it once the save is done.</summary>
    private async Task<SnapshotResult> TakeSnapshotAsync()
    {
        var socket = Path.Combine(_dir, "vm.sock");
        using var process = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["run", "--cmdline", "generation mib=16 every=8", "--control", socket]);
        Task<SnapshotResult>? snapshot = null;
        var run = await ProcessRunner.RunUntilAsync(process, output =>
        {
            if (snapshot is null && output.Contains("generation: 16\n", StringComparison.Ordinal))
            {
                snapshot = SnapshotOverTheSocketAsync(socket);
            }

            return snapshot is { IsCompleted: true };
        }, Limit);
        Assert.DoesNotContain("FAIL", run.Stdout, StringComparison.Ordinal);
        return await snapshot!;
    }

    private async Task<SnapshotResult> SnapshotOverTheSocketAsync(string socket)
    {
        using var client = await ControlClient.ConnectAsync(socket);
        return await client.SnapshotAsync(Snapshot);
    }

    [KvmFact]
    public async Task AVmSnapshottedOverTheControlSocketGoesOnInANewProcess()
    {
        var saved = await TakeSnapshotAsync();
        Assert.Equal("running", saved.State);
        Assert.Equal(Snapshot, saved.Path);
        Assert.InRange(saved.RamBytes, 16L << 20, 64L << 20);

        var restored = await SharpvisorProcess.RunUntilAsync(["run", "--restore", Snapshot], output => Sweeps(output).Length >= 2, Limit);

        // No boot: the guest does not print its window again, and goes on from a sweep after the one it was saved in.
        Assert.DoesNotContain("window", restored.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", restored.Stdout, StringComparison.Ordinal);
        var sweeps = Sweeps(restored.Stdout);
        Assert.True(sweeps[0] > 16, $"the restored guest started at sweep {sweeps[0]}:\n{restored.Stdout}");
        Assert.Equal(sweeps[0] + 8, sweeps[1]);
    }

    [KvmFact]
    public async Task ARestoreThatDoesNotFitOrACorruptSnapshotIsAUsageErrorOfOneLine()
    {
        await TakeSnapshotAsync();

        var wrongSize = await SharpvisorProcess.RunAsync(["run", "--restore", Snapshot, "--memory", "256M"], timeout: Limit);
        Assert.Equal(2, wrongSize.ExitCode);
        Assert.Equal("sharpvisor: error: the snapshot is of a VM with 1 vCPUs and 128 MiB, not 1 and 256 MiB\n", wrongSize.Stderr);

        var bytes = await File.ReadAllBytesAsync(Snapshot);
        bytes[40] ^= 0xFF; // inside the first section's payload
        await File.WriteAllBytesAsync(Snapshot, bytes);
        var corrupt = await SharpvisorProcess.RunAsync(["run", "--restore", Snapshot], timeout: Limit);
        Assert.Equal(2, corrupt.ExitCode);
        Assert.Equal("sharpvisor: error: section MACH fails its checksum: the file is corrupt\n", corrupt.Stderr);

        var missing = await SharpvisorProcess.RunAsync(["run", "--restore", Path.Combine(_dir, "none.snap")], timeout: Limit);
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("sharpvisor: error: cannot open the snapshot ", missing.Stderr, StringComparison.Ordinal);
    }

    private static long[] Sweeps(string output) =>
        [.. SweepLine().Matches(output).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    [GeneratedRegex(@"generation: (\d+)\n")]
    private static partial Regex SweepLine();
}
