using System.Globalization;
using System.Text.RegularExpressions;
using Sharpvisor.Cli;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Migration;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Migration of a VM with a virtio disk between two machines in this process over loopback TCP, with the test guest's
/// `virtio-blk-generation` scenario: it reads every sector back before rewriting it, so a write lost or done twice
/// across the switch, or a queue that went on out of step, makes it fail. Both machines open the same image; its
/// exclusive lock goes from the source to the destination at the hand-over, never held by both, never by neither
/// while a guest can write.
/// </summary>
public sealed partial class DiskMigrationTests : IDisposable
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(90));

    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-disk-migration-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [KvmFact]
    public async Task AGuestRewritingItsDiskMigratesWithNoWriteLostAndTheDestinationHoldsTheDisk()
    {
        var config = DiskConfig();
        var (sourceEnd, destinationEnd) = await MigrationTests.ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(config);
        source.Serial.WaitFor(@"virtio-blk-generation: 4\n", Limit);

        var destinationSerial = new SnapshotTests.SerialCapture();
        var receiving = MigrationTests.ReceiveAsync(config with { SerialOutput = destinationSerial }, destinationEnd);
        source.Machine.MigrateTo(sourceEnd, new MigrationOptions());
        using var destination = new SnapshotTests.RunningMachine(await receiving.WaitAsync(Limit), destinationSerial);
        var sweep = LastSweep(source.Serial.Text);
        Assert.Throws<InvalidOperationException>(() => source.Machine.Resume());
        source.StopAndJoin();

        destination.Serial.WaitFor($@"virtio-blk-generation: {sweep + 4}\n", Limit);
        Assert.DoesNotContain("FAIL", destination.Serial.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("64 sectors", destination.Serial.Text, StringComparison.Ordinal); // it went on, no boot
        Assert.Throws<IOException>(() => File.OpenHandle(Disk, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        destination.StopAndJoin();
    }

    [KvmFact]
    public async Task ASourceWhoseDestinationTookTheDiskButNeverConfirmedIsNotResumedUntilTheDiskIsFree()
    {
        var config = DiskConfig();
        var (sourceEnd, destinationEnd) = await MigrationTests.ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(config);
        source.Serial.WaitFor(@"virtio-blk-generation: 4\n", Limit);

        // The destination gets GO and the disk, then hangs up without a word: to the source it may or may not be running.
        var receiving = Task.Run(() => Machine.ReceiveFrom(config, destinationEnd, Limit));
        var migrating = Task.Run(() => source.Machine.MigrateTo(sourceEnd, new MigrationOptions { HandoverTimeout = Limit }));
        var silent = await receiving.WaitAsync(Limit);
        await destinationEnd.DisposeAsync();
        var e = await Assert.ThrowsAsync<MigrationException>(() => migrating.WaitAsync(Limit));
        Assert.StartsWith("the destination did not confirm that it runs the VM", e.Message, StringComparison.Ordinal);

        var refused = Assert.Throws<InvalidOperationException>(() => source.Machine.Resume());
        Assert.Equal($"not resumed: --disk {Disk} is locked by another process (a VM runs on it); the migration destination may be running this VM", refused.Message);
        Assert.Equal(MachineState.Paused, source.Machine.State);

        // Once the destination is gone the operator's resume takes the disk back and the guest goes on.
        silent.Dispose();
        Assert.Equal(MachineState.Running, source.Machine.Resume());
        var sweep = LastSweep(source.Serial.Text);
        source.Serial.WaitFor($@"virtio-blk-generation: {sweep + 4}\n", Limit);
        Assert.DoesNotContain("FAIL", source.Serial.Text, StringComparison.Ordinal);
        source.StopAndJoin();
    }

    [KvmFact]
    public async Task AMigrationThatFailsBeforeTheHandOverGivesTheSourceItsDiskBack()
    {
        var config = DiskConfig();
        var (sourceEnd, destinationEnd) = await MigrationTests.ConnectedPairAsync();
        using var source = new SnapshotTests.RunningMachine(config);
        source.Serial.WaitFor(@"virtio-blk-generation: 4\n", Limit);

        // A destination that takes the whole stream, answers nothing and goes away: no READY, so no GO.
        var dying = Task.Run(async () =>
        {
            var buffer = new byte[1 << 16];
            using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                while (await destinationEnd.ReadAsync(buffer, quiet.Token) > 0)
                {
                }
            }
            catch (OperationCanceledException)
            {
                // The whole VM arrived and the source waits for READY: this destination dies instead.
            }

            await destinationEnd.DisposeAsync();
        });
        var e = Assert.ThrowsAny<Exception>(() => source.Machine.MigrateTo(sourceEnd, new MigrationOptions()));
        Assert.True(e is MigrationException, e.ToString());
        await dying.WaitAsync(Limit);

        Assert.Equal(MachineState.Running, source.Machine.State);
        var sweep = LastSweep(source.Serial.Text);
        source.Serial.WaitFor($@"virtio-blk-generation: {sweep + 4}\n", Limit);
        Assert.DoesNotContain("FAIL", source.Serial.Text, StringComparison.Ordinal);
        Assert.Throws<IOException>(() => File.OpenHandle(Disk, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        source.StopAndJoin();
    }

    private string Disk => Path.Combine(_directory, "disk.img");

    private VmConfig DiskConfig()
    {
        if (!File.Exists(Disk))
        {
            using var image = File.Create(Disk);
            image.SetLength(1 << 20);
        }

        return new VmConfig
        {
            Kernel = BuiltInGuest.Load(),
            CommandLine = "virtio-blk-generation sectors=64 every=2",
            Disks = [new DiskConfig(Disk)],
        };
    }

    private static long LastSweep(string output) =>
        long.Parse(Sweep().Matches(output)[^1].Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"virtio-blk-generation: (\d+)\n")]
    private static partial Regex Sweep();
}
