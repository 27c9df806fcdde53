using System.Net;
using System.Net.Sockets;
using Sharpvisor.Cli;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Pre-copy migration between two machines in this process over a loopback TCP connection, with the test guest's
/// `generation` scenario (see <see cref="SnapshotTests"/>): the guest checks every page itself on every sweep, so a page
/// that missed a round or a vCPU moved wrong makes it fail or crash on the destination.
/// </summary>
public sealed class MigrationTests
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(90));

    private static VmConfig Config(int cpus, int memoryMiB = 256) =>
        new() { Kernel = BuiltInGuest.Load(), CommandLine = $"generation mib=16 every=8 cpus={cpus}", Cpus = cpus, MemoryBytes = (ulong)memoryMiB << 20 };

    [KvmTheory]
    [InlineData(1, 512)]
    [InlineData(4, 512)]
    [InlineData(1, 4096)]
    [InlineData(4, 4096)]
    public async Task AGuestWritingEveryPageMigratesAndGoesOnFromEveryPageAsItWas(int cpus, int memoryMiB)
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(Config(cpus, memoryMiB));
        source.Serial.WaitFor(@"generation: 16\n", Limit);
        var window = source.Serial.Window();

        var destinationSerial = new SnapshotTests.SerialCapture();
        var receiving = ReceiveAsync(Config(cpus, memoryMiB) with { SerialOutput = destinationSerial }, destinationEnd);
        var rounds = new List<MigrationProgress>();
        var during = new List<MigrationProgress>();
        var result = source.Machine.MigrateTo(sourceEnd, new MigrationOptions(), p => (p.RoundComplete ? rounds : during).Add(p));
        using var destination = new SnapshotTests.RunningMachine(await receiving.WaitAsync(Limit), destinationSerial);

        Assert.Throws<InvalidOperationException>(() => source.Machine.Resume());
        Assert.Equal(MachineState.Paused, source.Machine.State);
        Assert.Equal(StopKind.HostRequest, source.StopAndJoin().Kind);
        Assert.True(result.Rounds >= 2, $"{result.Rounds} rounds");
        Assert.Equal(result.Rounds - 1, rounds.Count);
        Assert.True(rounds[0].PagesSent >= ((long)memoryMiB << 20) / 4096, "round 1 sends every page");
        // A long round says how far it is on the way: never past what the round ends with.
        Assert.All(during, p => Assert.True(p.PagesSent <= rounds.Single(r => r.Round == p.Round).PagesSent, p.ToString()));
        // Untouched RAM goes as zero runs; later rounds resend the window the guest keeps writing, not all of RAM.
        Assert.True(result.BytesSent < (160L << 20), $"{result.BytesSent} bytes sent");

        var atSwitch = SnapshotTests.Counters(source.Machine.Memory, window);
        var sweepAtSwitch = source.Machine.Memory.Read<ulong>(new GuestAddress(window + 8));
        SnapshotTests.AssertSweepBoundaries(atSwitch, cpus, sweepAtSwitch);
        destination.Serial.WaitFor($@"generation: {(sweepAtSwitch / 8 + 3) * 8}\n", Limit);
        Assert.Equal(MachineState.Paused, destination.Machine.Pause());
        var after = SnapshotTests.Counters(destination.Machine.Memory, window);
        for (var page = 0; page < after.Length; page++)
        {
            Assert.True(after[page] > atSwitch[page], $"page {page} holds {after[page]}, not past {atSwitch[page]} it had at the switch");
        }

        Assert.DoesNotContain("window", destination.Serial.Text, StringComparison.Ordinal);
        destination.StopAndJoin();
    }

    [KvmFact]
    public async Task GuestTimeGoesOnAcrossAMigrationWithoutAJump()
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        var config = new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "kvmclock every=50" };
        using var source = new SnapshotTests.RunningMachine(config);
        var before = SnapshotTests.GuestClockLead(source.Serial, 8);

        var destinationSerial = new SnapshotTests.SerialCapture();
        var receiving = ReceiveAsync(config with { SerialOutput = destinationSerial }, destinationEnd);
        source.Machine.MigrateTo(sourceEnd, new MigrationOptions());
        using var destination = new SnapshotTests.RunningMachine(await receiving.WaitAsync(Limit), destinationSerial);
        source.StopAndJoin();

        var after = SnapshotTests.GuestClockLead(destination.Serial, 8);
        Assert.True(Math.Abs(after - before) < 50e6, $"the guest's clock leads the host's by {before / 1e6:F1} ms before and {after / 1e6:F1} ms after the migration");
        destination.StopAndJoin();
    }

    [KvmFact]
    public async Task AGuestDirtyingFasterThanTheLinkConvergesOnceAutoConvergeThrottlesIt()
    {
        // 8 MiB rewritten by 4 vCPUs many times a second, over a link of 16 MB/s: each round is the whole window again
        // (500 ms to send, over the 300 ms limit) until the vCPUs are held back.
        var config = Config(4) with { CommandLine = "generation mib=8 every=64 cpus=4" };
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(config);
        source.Serial.WaitFor(@"generation: 64\n", Limit);

        var destinationSerial = new SnapshotTests.SerialCapture();
        var receiving = ReceiveAsync(config with { SerialOutput = destinationSerial }, destinationEnd);
        var rounds = new List<MigrationProgress>();
        var options = new MigrationOptions { BandwidthLimit = 16_000_000, AutoConverge = true, ThrottleIncrement = 40, MaxRounds = 20 };
        var result = source.Machine.MigrateTo(sourceEnd, options, p =>
        {
            if (p.RoundComplete)
            {
                rounds.Add(p);
            }
        });
        using var destination = new SnapshotTests.RunningMachine(await receiving.WaitAsync(Limit), destinationSerial);
        source.StopAndJoin();

        var log = string.Join("\n", rounds);
        Assert.True(result.ThrottlePercent > 0, $"no throttle:\n{log}");
        Assert.True(result.Rounds < options.MaxRounds, $"it never converged:\n{log}");
        Assert.Equal(0, rounds[0].ThrottlePercent);
        var printed = destination.Serial.Text.Length;
        destination.Serial.WaitFor(@"generation: \d+\n", Limit, after: printed);
        destination.StopAndJoin();
    }

    [KvmFact]
    public async Task ACancelledMigrationLeavesTheSourceRunningAndTheDestinationWithNothing()
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(Config(1));
        source.Serial.WaitFor(@"generation: 16\n", Limit);
        var receiving = Task.Run(() => Machine.ReceiveFrom(Config(1), destinationEnd, Limit));

        // A slow link, and a cancel as soon as the first round is done.
        using var cancel = new CancellationTokenSource();
        var e = Assert.Throws<MigrationException>(() => source.Machine.MigrateTo(
            sourceEnd, new MigrationOptions { BandwidthLimit = 8_000_000 }, _ => cancel.Cancel(), cancel.Token));
        Assert.Equal("the migration was cancelled, the VM runs on here", e.Message);
        sourceEnd.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(() => receiving.WaitAsync(Limit));

        Assert.Equal(MachineState.Running, source.Machine.State);
        var printed = source.Serial.Text.Length;
        source.Serial.WaitFor(@"generation: \d+\n", Limit, after: printed);
        source.StopAndJoin();
    }

    [KvmFact]
    public async Task ADestinationThatDiesMidStreamLeavesTheSourceRunning()
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(Config(1));
        source.Serial.WaitFor(@"generation: 16\n", Limit);

        // The destination reads a little and goes away.
        var dying = Task.Run(async () =>
        {
            var buffer = new byte[1 << 20];
            await destinationEnd.ReadAtLeastAsync(buffer, buffer.Length);
            await destinationEnd.DisposeAsync();
        });
        var e = Assert.ThrowsAny<Exception>(() => source.Machine.MigrateTo(sourceEnd, new MigrationOptions()));
        Assert.True(e is IOException or MigrationException, e.ToString());
        await dying;

        Assert.Equal(MachineState.Running, source.Machine.State);
        var printed = source.Serial.Text.Length;
        source.Serial.WaitFor(@"generation: \d+\n", Limit, after: printed);
        source.StopAndJoin();
    }

    [KvmFact]
    public async Task ADestinationThatRefusesTheStateBeforeReadyLeavesTheSourceRunning()
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(Config(1));
        source.Serial.WaitFor(@"generation: 16\n", Limit);

        // A destination of another size reads the description, refuses it and closes.
        var receiving = Task.Run(() =>
        {
            try
            {
                return Machine.ReceiveFrom(Config(1) with { MemoryBytes = 512UL << 20 }, destinationEnd, Limit);
            }
            finally
            {
                destinationEnd.Dispose();
            }
        });
        var e = Assert.ThrowsAny<Exception>(() => source.Machine.MigrateTo(sourceEnd, new MigrationOptions()));
        Assert.True(e is IOException or MigrationException, e.ToString());
        var refused = await Assert.ThrowsAsync<MigrationException>(() => receiving);
        Assert.Equal("the incoming VM has 1 vCPUs and 256 MiB; this destination was started with 1 and 512 MiB", refused.Message);

        Assert.Equal(MachineState.Running, source.Machine.State);
        var printed = source.Serial.Text.Length;
        source.Serial.WaitFor(@"generation: \d+\n", Limit, after: printed);
        source.StopAndJoin();
    }

    [KvmFact]
    public async Task ACorruptedStreamIsRefusedByTheDestinationAndNeverRuns()
    {
        var (sourceEnd, destinationEnd) = await ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(Config(1));
        source.Serial.WaitFor(@"generation: 16\n", Limit);

        // Flip one byte in the middle of the stream on its way.
        var (relayIn, relayOut) = await ConnectedPairAsync();
        var relay = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            long total = 0;
            int read;
            try
            {
                while ((read = await destinationEnd.ReadAsync(buffer)) > 0)
                {
                    if (total < 5_000_000 && total + read >= 5_000_000)
                    {
                        buffer[5_000_000 - total] ^= 0x01;
                    }

                    total += read;
                    await relayIn.WriteAsync(buffer.AsMemory(0, read));
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The destination refused the stream and closed both ends: the relay's work is over.
            }

            relayIn.Dispose();
        });
        var receiving = Task.Run(() =>
        {
            try
            {
                return Machine.ReceiveFrom(Config(1), relayOut, Limit);
            }
            finally
            {
                relayOut.Dispose();
                destinationEnd.Dispose();
            }
        });

        Assert.ThrowsAny<Exception>(() => source.Machine.MigrateTo(sourceEnd, new MigrationOptions()));
        var refused = await Assert.ThrowsAsync<StateException>(() => receiving);
        Assert.EndsWith("fails its checksum: the file is corrupt", refused.Message, StringComparison.Ordinal);
        await relay.WaitAsync(Limit);

        Assert.Equal(MachineState.Running, source.Machine.State);
        source.StopAndJoin();
    }

    /// <summary>The destination's side on a thread: the machine received, RUNNING said, ready to run.</summary>
    internal static Task<Machine> ReceiveAsync(VmConfig config, Stream source) => Task.Run(() =>
    {
        var machine = Machine.ReceiveFrom(config, source, Limit);
        Machine.ConfirmRunning(source);
        return machine;
    });

    /// <summary>Two ends of a loopback TCP connection, as streams.</summary>
    internal static async Task<(NetworkStream, NetworkStream)> ConnectedPairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        var accept = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var server = await accept;
        return (client.GetStream(), server.GetStream());
    }
}
