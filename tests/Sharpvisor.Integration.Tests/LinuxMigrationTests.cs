using Sharpvisor.Control;
using Sharpvisor.Integration.Tests.Networking;
using Sharpvisor.Integration.Tests.Remote;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// A Linux guest busy with its virtio disk and virtio NIC through a live migration between two `sharpvisor run`
/// processes, between two managers (`sharpvisor serve`, driven by the CLI as a user would), and through a snapshot
/// restored in a new process. The guest's own shell does the work and the checks:
/// a loop that rewrites files with random data and records their checksums, syncs, and pings the host, which must
/// go on where it was; then, with the page cache dropped, every file must match its checksum as read back from the
/// disk, the kernel must have logged no I/O error, and the network must answer. As in
/// <see cref="LinuxUserSpaceTests"/> (whose conventions these follow) they run where KVM runs guest user space.
/// </summary>
[Trait("Category", "Slow")]
[Collection(nameof(LinuxBootTests))]
public sealed class LinuxMigrationTests : IDisposable
{
    private const string InitStarted = "Run /bin/sh as init process";
    private const string DiskCommandLine = "console=ttyS0 panic=-1 root=/dev/vda rw rootfstype=ext4 init=/bin/sh";
    private static readonly TimeSpan BootTime = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan CommandTime = TimeSpan.FromMinutes(2);

    // Four files rewritten in turn (256 KiB of random data, then its md5sum), a sync, a ping; /gen counts the rounds.
    // It stops at the next round once /stop exists.
    private static readonly string Workload =
        "(i=0; while [ ! -e /stop ]; do i=$((i+1)); f=/blk.$((i%4)); dd if=/dev/urandom of=$f bs=64k count=4 2>/dev/null; "
        + "md5sum $f > /sum.$((i%4)); sync; "
        + $"if ping -c 1 -W 2 {NetworkNamespace.HostAddress} >/dev/null; then echo ok $i >> /net.log; else echo lost $i >> /net.log; fi; "
        + "echo $i > /gen; done) & echo STARTED$((2+2))";

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("sv-linux-migration-");

    public void Dispose() => _scratch.Delete(recursive: true);

    [KvmNetworkFact(NeedsGuestUserSpace = true)]
    public async Task ALinuxGuestWritingItsDiskAndPingingMigratesAndGoesOnWithEveryFileIntact()
    {
        var (kernel, disk) = await ImagesAsync();
        using var ns = await NetworkNamespace.CreateAsync(taps: 2);
        var control = Path.Combine(_scratch.FullName, "source.sock");
        var incoming = Path.Combine(_scratch.FullName, "in.sock");
        var outgoing = Path.Combine(_scratch.FullName, "out.sock");
        await using var source = GuestConsole.Start(ns.StartInfo(SharpvisorProcess.ExecutablePath,
            ["run", "--kernel", kernel, "--cpus", "2", "--memory", "256M", "--disk", disk, "--cmdline", DiskCommandLine,
             "--net", $"tap={ns.TapNames[0]}", "--control", control]));
        await StartWorkloadAsync(source);

        // The destination has the same disk and its own TAP on the same bridge, as libvirt gives it a new vnetN.
        await using var destination = GuestConsole.Start(ns.StartInfo(SharpvisorProcess.ExecutablePath,
            ["run", "--incoming", incoming, "--cpus", "2", "--memory", "256M", "--disk", disk, "--net", $"tap={ns.TapNames[1]}"]));
        var result = await MigrationCliTests.MigrateAsync(control, outgoing, incoming);
        Assert.Equal("stopping", result.State);
        Assert.Equal(0, await source.WaitForExitAsync(CommandTime));

        await CheckAndPowerOffAsync(destination);
    }

    [KvmNetworkFact(NeedsGuestUserSpace = true)]
    public async Task ALinuxGuestWritingItsDiskAndPingingIsRestoredFromASnapshotAndGoesOnWithEveryFileIntact()
    {
        var (kernel, disk) = await ImagesAsync();
        using var ns = await NetworkNamespace.CreateAsync();
        var control = Path.Combine(_scratch.FullName, "vm.sock");
        var snapshot = Path.Combine(_scratch.FullName, "vm.snap");
        string[] machine = ["--cpus", "2", "--memory", "256M", "--disk", disk, "--net", $"tap={ns.TapName}"];
        await using (var source = GuestConsole.Start(ns.StartInfo(SharpvisorProcess.ExecutablePath,
            ["run", "--kernel", kernel, "--cmdline", DiskCommandLine, "--control", control, .. machine])))
        {
            await StartWorkloadAsync(source);

            // Paused first and stopped after: the disk then holds what the saved guest wrote and nothing it did later.
            using var client = await ControlClient.ConnectAsync(control);
            Assert.Equal(ControlStates.Paused, await client.ChangeStateAsync(ControlCommands.Pause));
            var saved = await client.SnapshotAsync(snapshot);
            Assert.True(saved.RamBytes > 0, "the snapshot holds no RAM");
            await client.ChangeStateAsync(ControlCommands.Stop);
            Assert.Equal(0, await source.WaitForExitAsync(CommandTime));
        }

        await using var restored = GuestConsole.Start(ns.StartInfo(SharpvisorProcess.ExecutablePath, ["run", "--restore", snapshot, .. machine]));
        await CheckAndPowerOffAsync(restored);
    }

    [KvmNetworkFact(NeedsGuestUserSpace = true)]
    public async Task ALinuxGuestWritingItsDiskAndPingingMigratesBetweenTwoManagersIsRestoredThereFromASnapshotAndGoesOnWithEveryFileIntact()
    {
        var (kernel, disk) = await ImagesAsync();
        using var ns = await NetworkNamespace.CreateAsync(taps: 2);
        // Two daemons on one machine, each with its own data directory, both seeing the kernel and the disk (shared storage).
        var roots = new[] { "--storage-root", _scratch.FullName, "--storage-root", Path.GetDirectoryName(kernel)! };
        TestTrace.Step("managers: starting two daemons");
        await using var source = await StartDaemonAsync(ns, "source", roots);
        await using var destination = await StartDaemonAsync(ns, "destination", roots);
        TestTrace.Step($"managers: source {source.Url}, destination {destination.Url}");

        await source.CliOkAsync("vm", "create", "lin", "--kernel", kernel, "--cmdline", DiskCommandLine, "--cpus", "2", "--memory", "256M",
            "--disk", disk, "--net", $"tap={ns.TapNames[0]}");
        await source.CliOkAsync("vm", "start", "lin");
        TestTrace.Step("managers: started; attaching the console");
        await using (var console = GuestConsole.Start(source.CliStartInfo("vm", "console", "lin")))
        {
            await StartWorkloadAsync(console);
            TestTrace.Step("managers: workload running; migrating");
            var moved = await source.CliOkAsync("vm", "migrate", "lin", "--to", destination.Url, "--to-token", destination.Token,
                "--to-net", $"tap={ns.TapNames[1]}");
            TestTrace.Step($"managers: migrate said {moved.Trim()}");
            Assert.StartsWith($"lin: migrated to {destination.Url}", moved, StringComparison.Ordinal);
            Assert.Equal(0, await console.WaitForExitAsync(CommandTime)); // its VM left this manager
            TestTrace.Step("managers: the source's console ended");
        }

        Assert.Contains("running", await destination.CliOkAsync("vm", "show", "lin"), StringComparison.Ordinal);

        // There, still busy, it is saved and stopped, then restored from that snapshot by the manager.
        TestTrace.Step("managers: snapshot at the destination");
        await destination.CliOkAsync("vm", "snapshot", "lin", "busy", "--stop");
        Assert.Contains("stopped", await destination.CliOkAsync("vm", "show", "lin"), StringComparison.Ordinal);
        await destination.CliOkAsync("vm", "restore", "lin", "busy");
        await using var restored = GuestConsole.Start(destination.CliStartInfo("vm", "console", "lin"));
        TestTrace.Step("managers: checking the restored guest at the destination");
        await CheckAndPowerOffAsync(restored);
        TestTrace.Step("managers: checked");
    }

    private async Task<DaemonFixture> StartDaemonAsync(NetworkNamespace ns, string name, string[] options)
    {
        var daemon = new DaemonFixture(ns, Path.Combine(_scratch.FullName, name), options);
        try
        {
            await daemon.InitializeAsync();
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    private async Task<(string Kernel, string Disk)> ImagesAsync() =>
        (Path.Combine(await LinuxImages.KernelDirectoryAsync(), "bzImage"), await LinuxImages.RootfsCopyAsync(_scratch.FullName));

    /// <summary>Boots to the shell, brings the NIC up and starts the workload; returns once it has done 3 rounds.</summary>
    private static async Task StartWorkloadAsync(GuestConsole guest)
    {
        await guest.WaitForAsync(InitStarted, BootTime);
        await guest.TypeLineAsync(
            $"ip addr add {NetworkNamespace.GuestAddress}/{NetworkNamespace.PrefixLength} dev eth0; ip link set eth0 up; "
            + $"ping -c 1 -W 10 {NetworkNamespace.HostAddress} >/dev/null; echo UP$((1+1))");
        await guest.WaitForAsync("UP2", CommandTime);
        await guest.TypeLineAsync(Workload);
        await guest.WaitForAsync("STARTED4", CommandTime);
        await guest.TypeLineAsync("while [ \"$(cat /gen 2>/dev/null)\" -lt 3 ] 2>/dev/null || [ ! -e /gen ]; do sleep 1; done; echo ROUNDS$((1+2))");
        await guest.WaitForAsync("ROUNDS3", CommandTime);
    }

    /// <summary>
    /// On the moved or restored guest: the workload goes on for 3 more rounds and stops, every file matches its
    /// checksum read back from the disk, no I/O error was logged, the host answers pings; then it powers off.
    /// </summary>
    private static async Task CheckAndPowerOffAsync(GuestConsole guest)
    {
        await guest.TypeLineAsync(
            "g=$(cat /gen); while [ \"$(cat /gen)\" -lt $((g+3)) ]; do sleep 1; done; touch /stop; wait; "
            + "echo 3 > /proc/sys/vm/drop_caches; for n in 0 1 2 3; do md5sum -c /sum.$n; done; "
            + "echo ioerrors=$(dmesg | grep -c -i -e 'I/O error' -e 'EXT4-fs error'); "
            + $"ping -c 3 -W 5 {NetworkNamespace.HostAddress}; echo CHECKED$((4+4))");
        var output = await guest.WaitForAsync("CHECKED8", CommandTime);
        var checks = output[output.LastIndexOf("drop_caches", StringComparison.Ordinal)..];
        for (var n = 0; n < 4; n++)
        {
            Assert.Contains($"/blk.{n}: OK", checks, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("FAILED", checks, StringComparison.Ordinal);
        Assert.Contains("ioerrors=0\n", checks, StringComparison.Ordinal);
        Assert.Contains("3 packets transmitted, 3 packets received, 0% packet loss", checks, StringComparison.Ordinal);
        Assert.DoesNotContain(InitStarted, output, StringComparison.Ordinal); // it went on: no boot
        await guest.TypeLineAsync("poweroff -f");
        Assert.Equal(0, await guest.WaitForExitAsync(CommandTime));
    }
}
