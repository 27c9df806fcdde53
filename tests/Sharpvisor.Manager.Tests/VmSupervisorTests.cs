using System.Diagnostics;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Store.Sqlite;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests;

/// <summary>
/// The supervisor on real <c>sharpvisor run</c> processes (the built-in test guest on /dev/kvm) and a SQLite store
/// in a temporary directory. Every VMM a test started is killed at the end, whatever happened.
/// </summary>
public sealed class VmSupervisorTests : IAsyncLifetime
{
    private static readonly string Executable = TestBinaries.Sharpvisor;

    private static readonly VmSupervisorOptions Options = new()
    {
        StartTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(15)),
        StopTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(5)),
    };

    // Short: the control sockets live in it, and unix socket paths are limited to 107 bytes.
    private readonly string _directory = Directory.CreateTempSubdirectory("svs-").FullName;
    private readonly List<VmSupervisor> _supervisors = [];
    private IVmStore? _store;

    private string RunDirectory => Path.Combine(_directory, "run");

    private IVmStore Store => _store ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync() => _store = await SqliteVmStore.OpenAsync(Path.Combine(_directory, "data"));

    public async Task DisposeAsync()
    {
        foreach (var supervisor in _supervisors)
        {
            await supervisor.DisposeAsync();
        }

        // Whatever a failed test left running.
        if (Directory.Exists(RunDirectory))
        {
            foreach (var socket in Directory.EnumerateFiles(RunDirectory, "*.sock", SearchOption.AllDirectories))
            {
                foreach (var pid in ProcessProbe.FindByControlSocket(socket))
                {
                    if (ProcessProbe.StartTime(pid) is { } start)
                    {
                        ProcessProbe.Kill(pid, start);
                    }
                }
            }
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private VmSupervisor NewSupervisor(VmSupervisorOptions? options = null)
    {
        var supervisor = new VmSupervisor(Executable, RunDirectory, Store, options ?? Options);
        _supervisors.Add(supervisor);
        return supervisor;
    }

    private Task<VmDefinition> DefineAsync(string name, string scenario = "idle") =>
        Store.CreateAsync(new VmDefinition { Name = name, BuiltInGuest = scenario, MemoryMiB = 64 });

    private async Task<IReadOnlyList<string>> StatesAsync(Guid id) =>
        [.. (await Store.ListEventsAsync(0, vmId: id)).Where(e => e.Kind == VmEventKinds.State).Select(e => e.Message)];

    private static bool IsAlive(int pid) => ProcessProbe.StartTime(pid) is not null;

    /// <summary>The fields of /proc/PID/status by name ("CapEff" -> "0000000000000000").</summary>
    private static async Task<Func<string, string>> StatusFieldsAsync(int pid)
    {
        var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
        return name => status.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim();
    }

    /// <summary>Runs a host tool to its end: its exit code and both outputs.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, IReadOnlyList<string> args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<StatusResult> ControlStatusAsync(string socket)
    {
        using var client = await ControlClient.ConnectAsync(socket);
        return await client.StatusAsync();
    }

    [KvmFact]
    public async Task Start_runs_the_VMM_until_its_control_socket_answers()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("idle-1");

        var status = await supervisor.StartAsync(vm);

        Assert.Equal(VmState.Running, status.State);
        Assert.NotNull(status.Pid);
        Assert.True(IsAlive(status.Pid.Value));
        var live = await ControlStatusAsync(supervisor.SocketPath(vm.Id));
        Assert.Equal(status.Pid, live.Pid);
        Assert.Equal(ControlStates.Running, live.State);
        Assert.Equal(64UL << 20, live.MemoryBytes);
        Assert.Equal(VmState.Running, (await Store.GetStateAsync(vm.Id))!.State);
        Assert.Equal(VmState.Running, (await supervisor.GetStatusAsync(vm.Id))!.State);
        Assert.Equal(status.Pid, (await supervisor.GetStatusAsync(vm.Id))!.Live!.Pid);
        var states = await StatesAsync(vm.Id);
        Assert.Contains(states, m => m.Contains("starting", StringComparison.Ordinal));
        Assert.Contains("running", states[^1], StringComparison.Ordinal);

        await supervisor.KillAsync(vm.Id);
    }

    [KvmFact]
    public async Task Pause_and_resume_reach_the_VMM_and_the_store()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("pause-1");
        await supervisor.StartAsync(vm);

        Assert.Equal(VmState.Paused, (await supervisor.PauseAsync(vm.Id)).State);
        Assert.Equal(ControlStates.Paused, (await ControlStatusAsync(supervisor.SocketPath(vm.Id))).State);
        Assert.Equal(VmState.Paused, (await Store.GetStateAsync(vm.Id))!.State);
        Assert.Equal(VmState.Paused, (await supervisor.PauseAsync(vm.Id)).State); // pausing a paused VM is fine

        Assert.Equal(VmState.Running, (await supervisor.ResumeAsync(vm.Id)).State);
        Assert.Equal(ControlStates.Running, (await ControlStatusAsync(supervisor.SocketPath(vm.Id))).State);
        Assert.Equal(VmState.Running, (await Store.GetStateAsync(vm.Id))!.State);

        await supervisor.KillAsync(vm.Id);
    }

    [KvmFact]
    public async Task Stop_ends_the_process_and_removes_the_socket()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("stop-1");
        var pid = (await supervisor.StartAsync(vm)).Pid!.Value;
        // The guest's console is the VMM's socket, which replays what the guest printed so far.
        Assert.Contains("idle: ready", await ReadConsoleUntilAsync(supervisor.ConsolePath(vm.Id), "idle: ready"), StringComparison.Ordinal);

        var stopwatch = Stopwatch.StartNew();
        var status = await supervisor.StopAsync(vm.Id);

        Assert.True(stopwatch.Elapsed < Options.StopTimeout, $"the stop took {stopwatch.Elapsed}: it was killed, not stopped");
        Assert.Equal(VmState.Stopped, status.State);
        Assert.Equal("stopped on request", status.ExitReason);
        Assert.False(IsAlive(pid));
        Assert.False(File.Exists(supervisor.SocketPath(vm.Id)));
        var stored = (await Store.GetStateAsync(vm.Id))!;
        Assert.Equal(VmState.Stopped, stored.State);
        Assert.Equal("stopped on request", stored.ExitReason);
        var states = await StatesAsync(vm.Id);
        Assert.Contains("stopping", states[^2], StringComparison.Ordinal);
        Assert.Contains("stopped", states[^1], StringComparison.Ordinal);
        Assert.False(File.Exists(supervisor.ConsolePath(vm.Id)));
    }

    private static async Task<string> ReadConsoleUntilAsync(string path, string expected)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        var text = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(15)));
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    [KvmFact]
    public async Task A_VMM_runs_confined_seeing_only_its_own_files_with_no_capabilities_and_its_seccomp_filter()
    {
        Assert.True(VmmJail.Unavailable is null || !KvmAvailability.IsCi, $"CI runs as root with util-linux: {VmmJail.Unavailable}");
        if (VmmJail.Unavailable is not null)
        {
            return; // a developer's machine without root: nothing to confine with
        }

        var images = Directory.CreateDirectory(Path.Combine(_directory, "images")).FullName;
        var disk = Path.Combine(images, "mine.img");
        var other = Path.Combine(images, "another-vms.img");
        await File.WriteAllBytesAsync(disk, new byte[64 * 1024]);
        await File.WriteAllBytesAsync(other, new byte[64 * 1024]);
        var supervisor = NewSupervisor();
        var otherVm = Directory.CreateDirectory(Path.Combine(RunDirectory, Guid.NewGuid().ToString("D"))).FullName;
        var otherConsole = Path.Combine(otherVm, "vm.console");
        await File.WriteAllTextAsync(otherConsole, "another VM's console");
        var vm = await Store.CreateAsync(new VmDefinition { Name = "jailed-1", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskDefinition(disk)] });
        var pid = (await supervisor.StartAsync(vm)).Pid!.Value;

        // The VMM's view of the file system, as the kernel shows it from outside: its root is the jail.
        var root = $"/proc/{pid}/root";
        Assert.True(File.Exists(root + disk), "its own disk is missing from its view");
        Assert.False(File.Exists(root + other), "another VM's image is visible to it");
        Assert.False(File.Exists(root + "/etc/shadow"), "/etc/shadow is visible to it");
        Assert.False(Directory.Exists(root + "/root") || Directory.Exists(root + "/home"), "home directories are visible to it");
        Assert.False(File.Exists(root + "/dev/kvm"), "it can open /dev/kvm again: it needs only the descriptor it was given");
        Assert.False(File.Exists(root + "/dev/net/tun"), "it can open /dev/net/tun and attach another VM's TAP");
        Assert.True(File.Exists(root + supervisor.SocketPath(vm.Id)), "its own control socket is missing from its view");
        Assert.False(File.Exists(root + otherConsole), "another VM's console socket is visible to it");
        Assert.False(File.Exists(root + supervisor.LogPath(vm.Id)), "the logs are visible to it");

        // Another process of another uid without capabilities (as another VMM is) cannot look into it through /proc.
        var peer = await RunAsync("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--", "/bin/ls", root + images]);
        Assert.True(peer.ExitCode != 0, $"a peer listed the VMM's root: {peer.Stdout}");
        Assert.Contains("Permission denied", peer.Stderr, StringComparison.Ordinal);

        var field = await StatusFieldsAsync(pid);
        Assert.Equal("0000000000000000", field("CapEff")); // no NIC: not even CAP_NET_ADMIN
        Assert.Equal("0000000000000000", field("CapBnd"));
        Assert.Equal("1", field("NoNewPrivs"));
        Assert.Equal("2", field("Seccomp")); // filter mode
        var uid = uint.Parse(field("Uid").Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(uid, VmmUids.DefaultFirst, VmmUids.DefaultFirst + VmmUids.DefaultCount - 1); // not root: its own uid
        Assert.Equal($"{uid}\t{uid}\t{uid}\t{uid}", field("Uid"));
        Assert.Equal($"{uid}\t{uid}\t{uid}\t{uid}", field("Gid"));
        Assert.Equal("", field("Groups"));

        // Its /proc shows no other uid's processes: a process of its uid in its mount namespace and root (its jail) lists
        // itself, not this test, not init, and not even the VMM, which is not dumpable (only its own threads see it).
        var inside = await RunAsync("/usr/bin/nsenter", [$"--target={pid}", "--mount", "--root", "--", "/usr/bin/setpriv", $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--", "/bin/ls", "/proc"]);
        Assert.True(inside.ExitCode == 0, $"ls /proc in the jail failed: {inside.Stderr}");
        var pids = inside.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(e => e.All(char.IsAsciiDigit)).ToList();
        Assert.DoesNotContain("1", pids);
        Assert.DoesNotContain(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), pids);
        Assert.DoesNotContain(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), pids);
        Assert.Single(pids); // ls itself (setpriv and nsenter exec'd into it)

        // Its uid may open neither its disk nor /dev/kvm by path: the jail opened them for it and it holds them.
        var opened = Directory.GetFiles($"/proc/{pid}/fd").Select(f => new FileInfo(f).LinkTarget).ToList();
        Assert.Contains(disk, opened);
        Assert.Contains("/dev/kvm", opened);

        // And it still does its work: the guest runs and answers; the supervisor stops it as ever.
        Assert.Equal(VmState.Running, (await supervisor.GetStatusAsync(vm.Id))!.State);
        await supervisor.StopAsync(vm.Id, TestTime.Ceiling(TimeSpan.FromSeconds(10)), CancellationToken.None);
        Assert.False(Directory.Exists(supervisor.JailPath(vm.Id)));
    }

    [KvmFact]
    public async Task A_confined_VMM_with_a_NIC_attaches_its_TAP_as_its_own_uid_with_only_CAP_NET_ADMIN()
    {
        if (VmmJail.Unavailable is not null)
        {
            return; // checked by the test above: CI always confines
        }

        // /dev/net/tun may be root's alone (0600): the jail opens it for the VMM, whose TUNSETIFF then creates the TAP.
        var tap = "svjail" + Guid.NewGuid().ToString("N")[..8];
        var supervisor = NewSupervisor();
        var vm = await Store.CreateAsync(new VmDefinition { Name = "jailed-nic", BuiltInGuest = "idle", MemoryMiB = 64, Nics = [new NicDefinition(tap)] });
        var pid = (await supervisor.StartAsync(vm)).Pid!.Value;
        try
        {
            Assert.True(Directory.Exists($"/sys/class/net/{tap}"), $"the VMM created no TAP {tap}");
            var field = await StatusFieldsAsync(pid);
            Assert.Equal("0000000000001000", field("CapEff")); // CAP_NET_ADMIN (12) and nothing else
            Assert.InRange(ProcessProbe.Uid(pid)!.Value, VmmUids.DefaultFirst, VmmUids.DefaultFirst + VmmUids.DefaultCount - 1);
        }
        finally
        {
            await supervisor.StopAsync(vm.Id, TestTime.Ceiling(TimeSpan.FromSeconds(10)), CancellationToken.None);
        }

        Assert.False(Directory.Exists($"/sys/class/net/{tap}"), "the TAP outlived its VMM");
    }

    [KvmFact]
    public async Task Two_confined_VMMs_run_as_two_uids_and_a_disk_one_of_them_writes_is_refused_to_the_other()
    {
        if (VmmJail.Unavailable is not null)
        {
            return; // checked by the test above: CI always confines
        }

        var disk = Path.Combine(Directory.CreateDirectory(Path.Combine(_directory, "images")).FullName, "shared.img");
        await File.WriteAllBytesAsync(disk, new byte[64 * 1024]);
        var supervisor = NewSupervisor();
        var first = await Store.CreateAsync(new VmDefinition { Name = "uid-1", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskDefinition(disk)] });
        var second = await Store.CreateAsync(new VmDefinition { Name = "uid-2", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskDefinition(disk, ReadOnly: true)] });
        var third = await DefineAsync("uid-3");
        var firstPid = (await supervisor.StartAsync(first)).Pid!.Value;
        var thirdPid = (await supervisor.StartAsync(third)).Pid!.Value;
        var firstUid = ProcessProbe.Uid(firstPid);
        var thirdUid = ProcessProbe.Uid(thirdPid);
        Assert.NotNull(firstUid);
        Assert.NotNull(thirdUid);
        Assert.NotEqual(firstUid, thirdUid);

        // The first VM writes the disk: the second may not even read it (it would see torn writes).
        var refused = await Assert.ThrowsAsync<VmStartException>(() => supervisor.StartAsync(second));
        Assert.Contains("in use by another VM or process", refused.Message, StringComparison.Ordinal);

        // Once the writer stopped, its uid is free and the disk is the second VM's to read.
        await supervisor.StopAsync(first.Id, TestTime.Ceiling(TimeSpan.FromSeconds(10)), CancellationToken.None);
        var secondPid = (await supervisor.StartAsync(second)).Pid!.Value;
        Assert.NotEqual(thirdUid, ProcessProbe.Uid(secondPid));
        await supervisor.StopAsync(second.Id, TestTime.Ceiling(TimeSpan.FromSeconds(10)), CancellationToken.None);
        await supervisor.StopAsync(third.Id, TestTime.Ceiling(TimeSpan.FromSeconds(10)), CancellationToken.None);
    }

    [KvmFact]
    public async Task A_socket_in_the_VMs_directory_that_its_VMM_does_not_serve_is_not_talked_to()
    {
        // A VMM owns its directory: one taken over by its guest could put another process's socket there.
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("swapped-1");
        await supervisor.StartAsync(vm);
        using (var genuine = await supervisor.ConnectControlAsync(vm.Id, CancellationToken.None))
        {
            Assert.NotNull(genuine);
        }

        var impostors = new List<System.Net.Sockets.Socket>();
        try
        {
            foreach (var path in new[] { supervisor.SocketPath(vm.Id), supervisor.ConsolePath(vm.Id) })
            {
                File.Delete(path);
                var impostor = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                impostors.Add(impostor);
                impostor.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
                impostor.Listen();
            }

            var control = await Assert.ThrowsAsync<ControlException>(() => supervisor.ConnectControlAsync(vm.Id, CancellationToken.None));
            Assert.Contains($"served by process {Environment.ProcessId}, not by the VMM", control.Message, StringComparison.Ordinal);
            var console = await Assert.ThrowsAsync<ControlException>(() => supervisor.ConnectConsoleAsync(vm.Id, CancellationToken.None));
            Assert.Contains("not by the VMM", console.Message, StringComparison.Ordinal);
        }
        finally
        {
            impostors.ForEach(s => s.Dispose());
            await supervisor.KillAsync(vm.Id, CancellationToken.None);
        }
    }

    [KvmFact]
    public async Task A_VMM_that_makes_a_forbidden_system_call_dies_and_the_reason_says_seccomp()
    {
        // The test hook makes the VMM call ptrace right after its filter is in: the kernel kills it with SIGSYS.
        var supervisor = NewSupervisor(Options with { VmmEnvironment = new Dictionary<string, string> { ["SHARPVISOR_SECCOMP_SELFTEST"] = "forbidden-call" } });
        var vm = await DefineAsync("seccomp-1");
        try
        {
            await supervisor.StartAsync(vm);
        }
        catch (VmStartException)
        {
            // It may die before it ever answers: then it failed to start, for the same reason.
        }

        await supervisor.WaitForExitAsync(vm.Id).WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
        var status = (await supervisor.GetStatusAsync(vm.Id))!;
        Assert.Contains(status.State, new[] { VmState.Crashed, VmState.Failed });
        Assert.Contains("signal 31 (SIGSYS: it made a system call its seccomp filter forbids", status.ExitReason, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task A_connect_the_runtime_makes_under_the_filter_fails_and_the_VMM_goes_on()
    {
        // .NET aborts a socket disposed while another thread's call holds it with connect(AF_UNSPEC): under a killing
        // filter a control client closing at that moment took the whole VM down with SIGSYS. The hook makes the call.
        var supervisor = NewSupervisor(Options with { VmmEnvironment = new Dictionary<string, string> { ["SHARPVISOR_SECCOMP_SELFTEST"] = "refused-call" } });
        var vm = await DefineAsync("seccomp-connect-1");

        Assert.Equal(VmState.Running, (await supervisor.StartAsync(vm)).State);

        Assert.Contains("sharpvisor: seccomp self-test: connect failed with errno 1\n", await File.ReadAllTextAsync(supervisor.LogPath(vm.Id)), StringComparison.Ordinal); // EPERM
        Assert.Equal(VmState.Running, (await supervisor.GetStatusAsync(vm.Id))!.State);
        await supervisor.KillAsync(vm.Id, CancellationToken.None);
    }

    [KvmFact]
    public async Task A_VMM_killed_from_outside_leaves_its_VM_crashed_with_an_event()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("crash-1");
        var pid = (await supervisor.StartAsync(vm)).Pid!.Value;

        using (var process = Process.GetProcessById(pid))
        {
            process.Kill();
        }

        await supervisor.WaitForExitAsync(vm.Id).WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(10)));

        var status = (await supervisor.GetStatusAsync(vm.Id))!;
        Assert.Equal(VmState.Crashed, status.State);
        Assert.Contains("signal 9", status.ExitReason, StringComparison.Ordinal);
        var stored = (await Store.GetStateAsync(vm.Id))!;
        Assert.Equal(VmState.Crashed, stored.State);
        Assert.Equal(status.ExitReason, stored.ExitReason);
        Assert.Contains("crashed", (await StatesAsync(vm.Id))[^1], StringComparison.Ordinal);
        var events = await Store.ListEventsAsync(0, vmId: vm.Id);
        Assert.Contains(events, e => e.Kind == VmSupervisor.EventKind && e.Message.Contains("crashed", StringComparison.Ordinal));
        Assert.False(File.Exists(supervisor.SocketPath(vm.Id)));
        // A crashed VM can start again.
        Assert.Equal(VmState.Running, (await supervisor.StartAsync(vm)).State);
        await supervisor.KillAsync(vm.Id);
    }

    [KvmFact]
    public async Task A_guest_that_ends_by_itself_leaves_its_VM_stopped_with_the_guests_status()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("hello-1", "hello");

        await supervisor.StartAsync(vm);
        await supervisor.WaitForExitAsync(vm.Id).WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(10)));

        var status = (await supervisor.GetStatusAsync(vm.Id))!;
        Assert.Equal(VmState.Stopped, status.State);
        Assert.Equal("the guest exited with status 1", status.ExitReason);
        Assert.Equal(VmState.Stopped, (await Store.GetStateAsync(vm.Id))!.State);
        // The console socket goes with the VMM (its output is the guest's exit status, checked above).
        Assert.False(File.Exists(supervisor.ConsolePath(vm.Id)));
        Assert.Equal(new Sharpvisor.Control.ExitRecord("guest-exit", 1, "guest requested exit with status 1"),
            Sharpvisor.Control.ExitRecord.TryRead(supervisor.ExitFilePath(vm.Id)));
    }

    [KvmFact]
    public async Task A_crashing_guest_leaves_its_VM_crashed_with_the_VMMs_own_account()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("crash-guest-1", "triple-fault");

        // It crashes at once, mostly before its control socket answers (then the start itself fails); on a loaded machine
        // the supervisor may see it answer first, and then sees it crash.
        try
        {
            await supervisor.StartAsync(vm);
        }
        catch (VmStartException e)
        {
            Assert.Contains("triple fault", e.Message, StringComparison.Ordinal);
        }

        await supervisor.WaitForExitAsync(vm.Id).WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
        var status = (await supervisor.GetStatusAsync(vm.Id))!;
        Assert.Contains("triple fault", status.ExitReason, StringComparison.Ordinal);
        Assert.Equal(VmState.Crashed, status.State);
        Assert.StartsWith("exit status 1: ", status.ExitReason, StringComparison.Ordinal);
        Assert.Equal("crash", Sharpvisor.Control.ExitRecord.TryRead(supervisor.ExitFilePath(vm.Id))?.Kind);
    }

    [KvmFact]
    public async Task A_new_supervisor_adopts_a_running_VM_and_can_stop_it()
    {
        var a = NewSupervisor();
        var vm = await DefineAsync("adopt-1");
        var pid = (await a.StartAsync(vm)).Pid!.Value;
        await a.DisposeAsync(); // the manager goes away; the VM does not
        Assert.True(IsAlive(pid));

        var b = NewSupervisor();
        var result = await b.ReattachAsync();

        var adopted = Assert.Single(result.Adopted);
        Assert.Equal(vm.Id, adopted.VmId);
        Assert.Equal(pid, adopted.Pid);
        Assert.Equal(VmState.Running, adopted.State);
        Assert.Empty(result.MarkedCrashed);
        Assert.Equal(pid, (await b.GetStatusAsync(vm.Id))!.Live!.Pid);
        Assert.Equal(VmState.Paused, (await b.PauseAsync(vm.Id)).State);
        await Assert.ThrowsAsync<VmStateConflictException>(() => b.StartAsync(vm));

        var stopped = await b.StopAsync(vm.Id);

        Assert.Equal(VmState.Stopped, stopped.State);
        Assert.False(IsAlive(pid));
        Assert.False(File.Exists(b.SocketPath(vm.Id)));
        Assert.Equal(VmState.Stopped, (await Store.GetStateAsync(vm.Id))!.State);
    }

    [KvmFact]
    public async Task Reattach_marks_crashed_the_VMs_whose_VMM_is_gone_and_removes_their_sockets()
    {
        var a = NewSupervisor();
        var vm = await DefineAsync("gone-1");
        var pid = (await a.StartAsync(vm)).Pid!.Value;
        await a.DisposeAsync();
        using (var process = Process.GetProcessById(pid))
        {
            process.Kill(); // while no manager watches: the socket stays behind
            await process.WaitForExitAsync();
        }

        var other = await DefineAsync("gone-2");
        await Store.SetStateAsync(other.Id, VmState.Running); // running in the store, no socket at all

        var b = NewSupervisor();
        var result = await b.ReattachAsync();

        Assert.Empty(result.Adopted);
        Assert.Equal(new[] { vm.Id, other.Id }.Order(), result.MarkedCrashed.Order());
        Assert.False(File.Exists(b.SocketPath(vm.Id)));
        Assert.Equal(VmState.Crashed, (await Store.GetStateAsync(vm.Id))!.State);
        Assert.Equal(VmState.Crashed, (await Store.GetStateAsync(other.Id))!.State);
    }

    [KvmFact]
    public async Task Conflicting_actions_throw_a_conflict()
    {
        var supervisor = NewSupervisor();
        var vm = await DefineAsync("conflict-1");

        await Assert.ThrowsAsync<VmStateConflictException>(() => supervisor.PauseAsync(vm.Id)); // never started
        await supervisor.StartAsync(vm);
        var twice = await Assert.ThrowsAsync<VmStateConflictException>(() => supervisor.StartAsync(vm));
        Assert.Equal(VmState.Running, twice.State);
        Assert.IsAssignableFrom<VmConflictException>(twice);

        // Concurrent actions run one at a time: exactly one of two starts... of two stops wins.
        var stops = await Task.WhenAll(
            Catch(supervisor.StopAsync(vm.Id)),
            Catch(supervisor.StopAsync(vm.Id)));
        Assert.Single(stops, e => e is null);
        Assert.Single(stops, e => e is VmStateConflictException { State: VmState.Stopped });

        await Assert.ThrowsAsync<VmStateConflictException>(() => supervisor.PauseAsync(vm.Id));
        await Assert.ThrowsAsync<VmStateConflictException>(() => supervisor.ResumeAsync(vm.Id));
        await Assert.ThrowsAsync<VmStateConflictException>(() => supervisor.KillAsync(vm.Id));
    }

    [KvmFact]
    public async Task A_VMM_that_fails_at_once_is_a_start_failure_and_the_VM_failed_to_start()
    {
        var supervisor = NewSupervisor();
        var vm = await Store.CreateAsync(new VmDefinition { Name = "bad-1", Kernel = Path.Combine(_directory, "no-such-kernel"), MemoryMiB = 64 });

        var e = await Assert.ThrowsAsync<VmStartException>(() => supervisor.StartAsync(vm));

        Assert.Contains("no such file", e.Reason, StringComparison.Ordinal);
        var stored = (await Store.GetStateAsync(vm.Id))!;
        Assert.Equal(VmState.Failed, stored.State);
        Assert.Equal(e.Reason, stored.ExitReason);
        // The VMM said so itself, before it touched KVM.
        Assert.Equal(Sharpvisor.Control.ExitRecord.StartFailure, Sharpvisor.Control.ExitRecord.TryRead(supervisor.ExitFilePath(vm.Id))?.Kind);
    }

    private static async Task<Exception?> Catch(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception e) when (e is VmConflictException)
        {
            return e;
        }
    }
}
