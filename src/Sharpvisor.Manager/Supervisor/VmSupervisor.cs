using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Control;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>What the supervisor knows of one VM; <see cref="Live"/> is the VMM's own <c>status</c> when it answered.</summary>
public sealed record VmStatus(Guid VmId, VmState State, int? Pid, string? ExitReason, StatusResult? Live = null);

/// <summary>What <see cref="VmSupervisor.ReattachAsync"/> found in the run directory and the store.</summary>
public sealed record VmReattachResult(
    IReadOnlyList<VmStatus> Adopted,
    IReadOnlyList<Guid> MarkedCrashed,
    IReadOnlyList<Guid> UnknownRunning);

/// <summary>
/// Runs one <c>sharpvisor run</c> process per VM and tracks it through its control socket
/// (<c>RUNDIR/ID.sock</c>); the guest's serial console is the VMM's socket <c>RUNDIR/ID.console</c> and the VMM's own output goes to
/// <c>RUNDIR/ID.log</c>. Every state change is written to the store with its event. Actions on one VM are serialized;
/// one that does not fit the VM's state throws <see cref="VmStateConflictException"/>.
/// Disposing the supervisor leaves the VMs running: a new supervisor on the same run directory adopts them
/// (<see cref="ReattachAsync"/>), as after a restart of the manager.
/// </summary>
public sealed partial class VmSupervisor : IAsyncDisposable
{
    /// <summary>The kind of the events the supervisor appends beside the store's "state" events.</summary>
    public const string EventKind = "supervisor";

    // sockaddr_un.sun_path holds 108 bytes with its NUL.
    private const int MaxSocketPathBytes = 107;

    private readonly string _executable;
    private readonly string _runDirectory;
    private readonly IVmStore _store;
    private readonly VmSupervisorOptions _options;
    private readonly ConcurrentDictionary<Guid, ManagedVm> _vms = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly VmmUids _uids;

    /// <param name="sharpvisorExecutable">The <c>sharpvisor</c> binary that runs each VM.</param>
    /// <param name="runDirectory">Where the control and console sockets and the log files live; created (mode 0700) when missing.</param>
    /// <param name="store">Where every state change and its event is written.</param>
    /// <param name="options">Timeouts; the defaults when null.</param>
    public VmSupervisor(string sharpvisorExecutable, string runDirectory, IVmStore store, VmSupervisorOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sharpvisorExecutable);
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        ArgumentNullException.ThrowIfNull(store);
        _executable = Path.GetFullPath(sharpvisorExecutable);
        _runDirectory = Path.GetFullPath(runDirectory);
        // Both sockets live here; the console's name is the longer one.
        if (Encoding.UTF8.GetByteCount(SocketPath(Guid.Empty)) > MaxSocketPathBytes
            || Encoding.UTF8.GetByteCount(ConsolePath(Guid.Empty)) > MaxSocketPathBytes)
        {
            throw new ArgumentException($"run directory '{_runDirectory}' is too long for unix socket paths in it", nameof(runDirectory));
        }

        _store = store;
        _options = options ?? new VmSupervisorOptions();
        _uids = new VmmUids(_options.VmmUidFirst, _options.VmmUidCount, ProcessProbe.LiveUids);
        Directory.CreateDirectory(_runDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string RunDirectory => _runDirectory;

    public string SocketPath(Guid id) => Path.Combine(VmDirectory(id), "vm.sock");

    /// <summary>
    /// RUNDIR/ID: the VM's own directory, all its jailed VMM can see of the run directory (its control and console
    /// sockets, its exit file): not the other VMs' sockets, not the logs.
    /// </summary>
    public string VmDirectory(Guid id) => Path.Combine(_runDirectory, id.ToString("D"));

    /// <summary>The VMM's serial console socket (<c>--serial socket:</c>): replay of the last 64 KiB, then live, both ways.</summary>
    public string ConsolePath(Guid id) => Path.Combine(VmDirectory(id), "vm.console");

    /// <summary>The VMM's <c>--exit-file</c>: why it exited, written just before it does (absent when it was killed).</summary>
    public string ExitFilePath(Guid id) => Path.Combine(VmDirectory(id), "vm.exit");

    public string LogPath(Guid id) => Path.Combine(_runDirectory, id.ToString("D") + ".log");

    /// <summary>
    /// Starts the VM's VMM process and returns once its control socket answers (running), or once it exited
    /// during the start (stopped: a guest that ended by itself). Throws <see cref="VmStartException"/> when the
    /// process cannot start or fails before answering (the VM is then crashed), <see cref="VmStateConflictException"/>
    /// when the VM already runs.
    /// </summary>
    public Task<VmStatus> StartAsync(VmDefinition definition, CancellationToken cancellationToken = default) =>
        StartAsync(definition, restoreFrom: null, cancellationToken);

    /// <summary>As <see cref="StartAsync(VmDefinition, CancellationToken)"/>, from the snapshot <paramref name="restoreFrom"/> when given.</summary>
    public async Task<VmStatus> StartAsync(VmDefinition definition, string? restoreFrom, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var vm = _vms.GetOrAdd(definition.Id, static id => new ManagedVm(id));
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            RequireStartable(vm, "start");
            var run = await SpawnRunAsync(vm, definition, restoreFrom, incoming: null).ConfigureAwait(false);
            return await AwaitControlAsync(vm, run, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>Under the VM's gate: a VM with no VMM process now, on a supervisor still in service; else 409 (or disposed).</summary>
    private void RequireStartable(ManagedVm vm, string action)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        if (vm.State is VmState.Starting or VmState.Running or VmState.Paused or VmState.Stopping)
        {
            throw new VmStateConflictException(vm.Id, vm.State, action);
        }
    }

    /// <summary>
    /// Under the VM's gate: the VMM process for <paramref name="definition"/> spawned (booting, restoring from
    /// <paramref name="restoreFrom"/>, or waiting for a migration on <paramref name="incoming"/>), recorded as starting and
    /// watched. Throws <see cref="VmStartException"/> when it cannot be spawned (the VM is then failed).
    /// </summary>
    private async Task<VmRun> SpawnRunAsync(ManagedVm vm, VmDefinition definition, string? restoreFrom, string? incoming)
    {
        Directory.CreateDirectory(VmDirectory(vm.Id), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var socket = SocketPath(vm.Id);
        var args = VmProcessArguments.Build(
            definition, socket, ConsolePath(vm.Id), ExitFilePath(vm.Id), _options.KvmDevice, restoreFrom, incoming, DisplaySocketPath(vm.Id),
            WriteVncPassword(vm.Id, definition.Display));
        var log = LogPath(vm.Id);
        _ = VmLogFile.TrimIfOver(log, _options.LogMaxBytes);
        // A record from the last run must not be read as this one's (the VMM removes it too).
        TryDelete(ExitFilePath(vm.Id));
        var run = new VmRun(socket, log, LogLength(log));
        await BeginRunAsync(vm, run).ConfigureAwait(false);
        await RecordAsync(vm, run, VmState.Starting, null, terminal: false).ConfigureAwait(false);

        var jail = JailFor(definition, vm.Id, restoreFrom, incoming is not null);
        if (jail is null && _options.Confine && VmmJail.Unavailable is { } why)
        {
            await AppendEventAsync(vm.Id, $"the VMM runs without its mount-namespace jail: {why}").ConfigureAwait(false);
        }

        Process child;
        try
        {
            child = Spawn(args, log, jail);
        }
        catch (Exception e) when (e is Win32Exception or IOException or InvalidOperationException)
        {
            _uids.Release(vm.Id);
            var reason = $"could not start {_executable}: {e.Message}";
            await RecordAsync(vm, run, VmState.Failed, reason, terminal: true).ConfigureAwait(false);
            throw new VmStartException(vm.Id, reason, e);
        }

        run.AttachChild(child);
        run.Exited = Task.Run(() => WatchAsync(vm, run), CancellationToken.None);
        await AppendEventAsync(vm.Id, $"VMM process {run.Pid} started").ConfigureAwait(false);
        return run;
    }

    /// <summary>Asks the VMM to stop (control <c>stop</c>), SIGKILLs it after the stop timeout, and returns once it exited.</summary>
    public Task<VmStatus> StopAsync(Guid id, CancellationToken cancellationToken = default) =>
        StopAsync(id, _options.StopTimeout, cancellationToken);

    /// <summary>As <see cref="StopAsync(Guid, CancellationToken)"/>, with the caller's timeout before the SIGKILL (the API's <c>?timeout=</c>).</summary>
    public async Task<VmStatus> StopAsync(Guid id, TimeSpan stopTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stopTimeout, TimeSpan.Zero);
        var vm = Lookup(id, "stop");
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var run = RequireState(vm, "stop", VmState.Running, VmState.Paused, VmState.Stopping);
            run.Expect(ExpectedExit.Stop, "stopped on request");
            await RecordAsync(vm, run, VmState.Stopping, null, terminal: false).ConfigureAwait(false);
            try
            {
                await ControlAsync(run, (client, token) => client.ChangeStateAsync(ControlCommands.Stop, token), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                // It may be exiting already; if not, the timeout below kills it.
            }

            if (!await CompletesWithinAsync(run.Exited, stopTimeout, cancellationToken).ConfigureAwait(false))
            {
                run.Expect(ExpectedExit.Stop, $"did not stop within {stopTimeout.TotalSeconds:0.###} s of a stop request; killed");
                KillProcess(run);
                await run.Exited.ConfigureAwait(false);
            }

            return Snapshot(vm);
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>SIGKILLs the VMM and returns once it exited (stopped, "killed on request").</summary>
    public async Task<VmStatus> KillAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var vm = Lookup(id, "kill");
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var run = RequireState(vm, "kill", VmState.Running, VmState.Paused, VmState.Stopping);
            run.Expect(ExpectedExit.Kill, "killed on request");
            KillProcess(run);
            await run.Exited.ConfigureAwait(false);
            return Snapshot(vm);
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>Pauses the vCPUs (control <c>pause</c>); pausing a paused VM is fine.</summary>
    public Task<VmStatus> PauseAsync(Guid id, CancellationToken cancellationToken = default) =>
        ChangeRunStateAsync(id, "pause", ControlCommands.Pause, ControlStates.Paused, VmState.Paused, cancellationToken);

    /// <summary>Resumes the vCPUs (control <c>resume</c>); resuming a running VM is fine.</summary>
    public Task<VmStatus> ResumeAsync(Guid id, CancellationToken cancellationToken = default) =>
        ChangeRunStateAsync(id, "resume", ControlCommands.Resume, ControlStates.Running, VmState.Running, cancellationToken);

    /// <summary>
    /// What the supervisor knows of the VM, with the VMM's <c>status</c> when it runs and answers; null for a VM this
    /// supervisor never ran nor adopted.
    /// </summary>
    public async Task<VmStatus?> GetStatusAsync(Guid id, CancellationToken cancellationToken = default)
    {
        if (!_vms.TryGetValue(id, out var vm))
        {
            return null;
        }

        var status = Snapshot(vm);
        if (status.State is VmState.Running or VmState.Paused && vm.Run is { } run)
        {
            try
            {
                var live = await ControlAsync(run, (client, token) => client.StatusAsync(token), cancellationToken).ConfigureAwait(false);
                return status with { Live = live };
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                return status;
            }
        }

        return status;
    }

    /// <summary>The VMs this supervisor tracks, with their last known state (no control requests).</summary>
    public IReadOnlyList<VmStatus> List() => [.. _vms.Values.Select(Snapshot)];

    /// <summary>
    /// Completes when the VM's current VMM process has exited and its final state is recorded (at once when none runs).
    /// </summary>
    public Task WaitForExitAsync(Guid id, CancellationToken cancellationToken = default) =>
        _vms.TryGetValue(id, out var vm) && vm.Run is { } run ? run.Exited.WaitAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>
    /// After a restart of the manager: adopts every VMM in the run directory whose control socket answers and whose
    /// process lives (running or paused, without restarting it). A socket that does not answer is removed (a VMM
    /// still holding it, hung, is killed) and its VM marked crashed, as is every VM the store has as starting, running,
    /// paused or stopping that has no live VMM.
    /// </summary>
    public async Task<VmReattachResult> ReattachAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var adopted = new List<VmStatus>();
        var crashed = new List<Guid>();
        var unknown = new List<Guid>();
        foreach (var socket in Directory.EnumerateDirectories(_runDirectory).Select(d => Path.Combine(d, "vm.sock")).Where(File.Exists).ToList())
        {
            if (!Guid.TryParseExact(Path.GetFileName(Path.GetDirectoryName(socket)), "D", out var id)
                || (_vms.TryGetValue(id, out var known) && known.State is not (VmState.Defined or VmState.Stopped or VmState.Crashed or VmState.Failed)))
            {
                continue;
            }

            var definition = await _store.GetAsync(id, cancellationToken).ConfigureAwait(false);
            StatusResult? status = null;
            ulong? startTime = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.ControlTimeout);
                using var client = await ControlClient.ConnectAsync(socket, timeout.Token).ConfigureAwait(false);
                status = await client.StatusAsync(timeout.Token).ConfigureAwait(false);
                // The pid it names is the one a stop or kill will signal: it must be the process that answers.
                if (client.PeerProcessId is var peer && peer != status.Pid)
                {
                    Trace.TraceWarning($"VM {id}: its control socket is served by process {peer}, which says it is {status.Pid}: not adopted");
                    status = null;
                }

                startTime = status is null ? null : ProcessProbe.StartTime(status.Pid);
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
            }

            if (status is not null && startTime is { } start)
            {
                if (definition is null)
                {
                    // A VMM for a VM the inventory does not have: not ours to adopt or to kill.
                    unknown.Add(id);
                    continue;
                }

                adopted.Add(await AdoptAsync(id, status, start, socket).ConfigureAwait(false));
                continue;
            }

            // Nobody answers: a VMM that died without removing its socket, or one that hangs.
            foreach (var pid in ProcessProbe.FindByControlSocket(socket))
            {
                if (ProcessProbe.StartTime(pid) is { } hung)
                {
                    ProcessProbe.Kill(pid, hung);
                }
            }

            TryDelete(socket);
            TryDelete(ConsolePath(id));
            if (definition is not null && await MarkCrashedIfActiveAsync(id, $"its VMM did not answer on {socket} when the manager restarted", cancellationToken).ConfigureAwait(false))
            {
                crashed.Add(id);
            }
        }

        foreach (var entry in await _store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var id = entry.Definition.Id;
            if (adopted.Any(a => a.VmId == id) || crashed.Contains(id) || _vms.ContainsKey(id))
            {
                continue;
            }

            if (await MarkCrashedIfActiveAsync(id, "no VMM process was found for it when the manager restarted", cancellationToken).ConfigureAwait(false))
            {
                crashed.Add(id);
            }
        }

        return new VmReattachResult(adopted, crashed, unknown);
    }

    /// <summary>Stops watching the VMM processes and leaves them running, for a later <see cref="ReattachAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        foreach (var vm in _vms.Values)
        {
            if (vm.Run is { } run)
            {
                try
                {
                    await run.Exited.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        _disposed.Dispose();
    }

    private ManagedVm Lookup(Guid id, string action) =>
        _vms.TryGetValue(id, out var vm) ? vm : throw new VmStateConflictException(id, VmState.Defined, action);

    private static VmRun RequireState(ManagedVm vm, string action, params VmState[] allowed)
    {
        var state = vm.State;
        return Array.IndexOf(allowed, state) >= 0 && vm.Run is { } run
            ? run
            : throw new VmStateConflictException(vm.Id, state, action);
    }

    private async Task<VmStatus> ChangeRunStateAsync(
        Guid id, string action, string command, string expected, VmState target, CancellationToken cancellationToken)
    {
        var vm = Lookup(id, action);
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var run = RequireState(vm, action, VmState.Running, VmState.Paused);
            string state;
            try
            {
                state = await ControlAsync(run, (client, token) => client.ChangeStateAsync(command, token), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                // The process may have just exited: then the action conflicts with the state its exit left.
                if (await CompletesWithinAsync(run.Exited, TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false))
                {
                    throw new VmStateConflictException(vm.Id, vm.State, action);
                }

                throw new VmControlException(vm.Id, $"{command} failed: {e.Message}", e);
            }

            if (state != expected)
            {
                // "stopping": someone else (a signal) began stopping it.
                throw new VmStateConflictException(vm.Id, state == ControlStates.Stopping ? VmState.Stopping : vm.State, action);
            }

            await RecordAsync(vm, run, target, null, terminal: false).ConfigureAwait(false);
            return Snapshot(vm);
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    private async Task<VmStatus> AwaitControlAsync(ManagedVm vm, VmRun run, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        Exception? lastFailure = null;
        while (!run.Exited.IsCompleted)
        {
            try
            {
                var status = await ControlAsync(run, (client, token) => client.StatusAsync(token), cancellationToken).ConfigureAwait(false);
                var state = status.State switch
                {
                    ControlStates.Paused => VmState.Paused,
                    ControlStates.Stopping => VmState.Stopping,
                    _ => VmState.Running,
                };
                await RecordAsync(vm, run, state, null, terminal: false).ConfigureAwait(false);
                return Snapshot(vm) with { Live = status };
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                lastFailure = e;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                run.Expect(ExpectedExit.Failed, "the start was cancelled");
                KillProcess(run);
                await run.Exited.ConfigureAwait(false);
                throw;
            }

            if (stopwatch.Elapsed >= _options.StartTimeout)
            {
                var reason = $"its control socket did not answer within {_options.StartTimeout.TotalSeconds:0.###} s ({lastFailure?.Message})";
                run.Expect(ExpectedExit.Failed, reason);
                KillProcess(run);
                await run.Exited.ConfigureAwait(false);
                throw new VmStartException(vm.Id, reason, lastFailure);
            }

            await Task.WhenAny(run.Exited, Task.Delay(20, CancellationToken.None)).ConfigureAwait(false);
        }

        // It exited before answering: a guest that ended at once (stopped), or a failure (crashed).
        await run.Exited.ConfigureAwait(false);
        return vm.State is VmState.Crashed or VmState.Failed ? throw new VmStartException(vm.Id, vm.ExitReason ?? "the VMM exited") : Snapshot(vm);
    }

    private async Task<VmStatus> AdoptAsync(Guid id, StatusResult status, ulong startTime, string socket)
    {
        var vm = _vms.AddOrUpdate(id, static id => new ManagedVm(id), static (_, existing) => existing);
        var run = new VmRun(socket, LogPath(id), LogLength(LogPath(id)));
        run.AttachAdopted(status.Pid, startTime);
        if (ProcessProbe.Uid(status.Pid) is { } uid)
        {
            _uids.Hold(id, uid);
        }

        await BeginRunAsync(vm, run).ConfigureAwait(false);
        var state = status.State switch
        {
            ControlStates.Paused => VmState.Paused,
            ControlStates.Stopping => VmState.Stopping,
            _ => VmState.Running,
        };
        if (state == VmState.Stopping)
        {
            run.Expect(ExpectedExit.Stop, "stopped on request");
        }

        await RecordAsync(vm, run, state, null, terminal: false).ConfigureAwait(false);
        run.Exited = Task.Run(() => WatchAsync(vm, run), CancellationToken.None);
        await AppendEventAsync(id, $"adopted VMM process {status.Pid} ({status.State}) after a manager restart").ConfigureAwait(false);
        return Snapshot(vm) with { Live = status };
    }

    private async Task<bool> MarkCrashedIfActiveAsync(Guid id, string reason, CancellationToken cancellationToken)
    {
        var stored = await _store.GetStateAsync(id, cancellationToken).ConfigureAwait(false);
        if (stored?.State is not (VmState.Starting or VmState.Running or VmState.Paused or VmState.Stopping))
        {
            return false;
        }

        await _store.SetStateAsync(id, VmState.Crashed, reason, CancellationToken.None).ConfigureAwait(false);
        await AppendEventAsync(id, $"crashed: {reason}").ConfigureAwait(false);
        return true;
    }

    private static async Task BeginRunAsync(ManagedVm vm, VmRun run)
    {
        await vm.WriteLock.WaitAsync().ConfigureAwait(false);
        try
        {
            vm.Run = run;
        }
        finally
        {
            vm.WriteLock.Release();
        }
    }

    /// <summary>
    /// Records a state of <paramref name="run"/> in memory and in the store. Once the run's exit is recorded
    /// (<paramref name="terminal"/>), later writes for it (a pause answered just before the process died) are dropped.
    /// </summary>
    private async Task RecordAsync(ManagedVm vm, VmRun run, VmState state, string? reason, bool terminal)
    {
        await vm.WriteLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(vm.Run, run) || run.Terminal)
            {
                return;
            }

            run.Terminal = terminal;
            vm.State = state;
            vm.ExitReason = reason;
            // Not cancellable: the store must not miss a transition that happened.
            await _store.SetStateAsync(vm.Id, state, reason, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            vm.WriteLock.Release();
        }
    }

    private Task AppendEventAsync(Guid id, string message) =>
        _store.AppendEventAsync(id, EventKind, message, CancellationToken.None);

    /// <summary>Waits for the process to exit, then records its final state; ends silently when the supervisor is disposed.</summary>
    private async Task WatchAsync(ManagedVm vm, VmRun run)
    {
        int? exitCode;
        try
        {
            if (run.Child is { } child)
            {
                var exit = child.WaitForExitAsync(_disposed.Token);
                while (await Task.WhenAny(exit, Task.Delay(_options.LogCheckInterval, _disposed.Token)).ConfigureAwait(false) != exit)
                {
                    KeepLogUnderCap(run);
                }

                await exit.ConfigureAwait(false);
                exitCode = child.ExitCode;
                child.Dispose();
            }
            else
            {
                var lastLogCheck = Stopwatch.GetTimestamp();
                while (ProcessProbe.IsAlive(run.Pid, run.StartTime))
                {
                    await Task.Delay(_options.AdoptedPollInterval, _disposed.Token).ConfigureAwait(false);
                    if (Stopwatch.GetElapsedTime(lastLogCheck) >= _options.LogCheckInterval)
                    {
                        KeepLogUnderCap(run);
                        lastLogCheck = Stopwatch.GetTimestamp();
                    }
                }

                exitCode = null;
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed: the VM keeps running for the next supervisor to adopt.
            return;
        }

        _uids.Release(vm.Id);
        // A VMM that was killed leaves its sockets behind.
        TryDelete(run.SocketPath);
        TryDelete(ConsolePath(vm.Id));
        try
        {
            Directory.Delete(JailPath(vm.Id)); // empty on the host: the jail's tmpfs lived in the VMM's namespace
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        var record = ReadExitRecord(ExitFilePath(vm.Id));
        var (state, reason) = Classify(run, exitCode, record);
        if (state == VmState.Crashed && record is null && vm.State == VmState.Starting)
        {
            // It died before it could say why and before it ever answered: it never ran, so the user looks at the
            // host (KVM, files), not at the guest.
            state = VmState.Failed;
        }

        try
        {
            await RecordAsync(vm, run, state, reason, terminal: true).ConfigureAwait(false);
            if (state == VmState.Crashed)
            {
                await AppendEventAsync(vm.Id, $"VMM process {run.Pid} crashed: {reason}").ConfigureAwait(false);
            }
            else if (state == VmState.Failed)
            {
                await AppendEventAsync(vm.Id, $"VMM process {run.Pid} failed to start the VM: {reason}").ConfigureAwait(false);
            }
            else
            {
                await AppendEventAsync(vm.Id, $"VMM process {run.Pid} exited: {reason}").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is VmStoreException or System.Data.Common.DbException or InvalidOperationException)
        {
            // The in-memory state is right; the store write is retried by nothing but the next transition.
            Trace.TraceError($"VM {vm.Id}: could not record its exit: {e.Message}");
        }
    }

    private async Task<T> ControlAsync<T>(VmRun run, Func<ControlClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ControlTimeout);
        using var client = await ConnectCheckedAsync(run, timeout.Token).ConfigureAwait(false);
        return await call(client, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>The run's control socket, refused (<see cref="ControlException"/>) unless its VMM process serves it.</summary>
    private static async Task<ControlClient> ConnectCheckedAsync(VmRun run, CancellationToken cancellationToken)
    {
        var client = await ControlClient.ConnectAsync(run.SocketPath, cancellationToken).ConfigureAwait(false);
        try
        {
            // The socket lies in the VMM's own directory: it may have been swapped for another VM's.
            client.ExpectPeer(run.Pid);
            return client;
        }
        catch (ControlException)
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A connection to the running VM's control socket, checked to be served by its VMM process (the socket lies in a
    /// directory that VMM owns); null when the VM has no VMM process now.
    /// </summary>
    public async Task<ControlClient?> ConnectControlAsync(Guid id, CancellationToken cancellationToken)
    {
        if (!_vms.TryGetValue(id, out var vm) || vm.Run is not { Pid: > 0 } run)
        {
            return null;
        }

        return await ConnectCheckedAsync(run, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A connection to the running VM's console socket, checked as <see cref="ConnectControlAsync"/>; null when it has no VMM.</summary>
    public async Task<Socket?> ConnectConsoleAsync(Guid id, CancellationToken cancellationToken)
    {
        if (!_vms.TryGetValue(id, out var vm) || vm.Run is not { Pid: > 0 } run)
        {
            return null;
        }

        var console = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await console.ConnectAsync(new UnixDomainSocketEndPoint(ConsolePath(id)), cancellationToken).ConfigureAwait(false);
            SocketPeer.Expect(console, run.Pid, "the console socket");
            return console;
        }
        catch
        {
            console.Dispose();
            throw;
        }
    }

    /// <summary>A control request that failed because of the VMM (gone, hung, refusing), not the caller's cancellation.</summary>
    private static bool IsControlFailure(Exception e) =>
        e is SocketException or IOException or JsonException or ControlException or OperationCanceledException or ObjectDisposedException;

    private static async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var delay = Task.Delay(timeout, cancellationToken);
        var first = await Task.WhenAny(task, delay).ConfigureAwait(false);
        if (first == task)
        {
            await task.ConfigureAwait(false);
            return true;
        }

        await delay.ConfigureAwait(false); // throws when cancelled
        return false;
    }

    /// <summary>
    /// The VMM's exit record, read only when it is a small regular file: the VM's directory is its (unprivileged) uid's,
    /// and this reads as root, so a link to a file of root's, a FIFO that blocks the reader or a huge file is no record.
    /// </summary>
    private static ExitRecord? ReadExitRecord(string path)
    {
        const long MaxBytes = 64 * 1024; // a record is one line with a message
        try
        {
            var file = new FileInfo(path);
            return file.LinkTarget is null && HostFile.KindOf(path) == HostFileKind.Regular && file.Length <= MaxBytes ? ExitRecord.TryRead(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static VmStatus Snapshot(ManagedVm vm) =>
        new(vm.Id, vm.State, vm.Run?.Pid is > 0 and var pid ? pid : null, vm.ExitReason);

    private enum ExpectedExit
    {
        None,
        Stop,
        Kill,
        Failed,
    }

    /// <summary>One VM as the supervisor tracks it; its current (or last) process is <see cref="Run"/>.</summary>
    private sealed class ManagedVm(Guid id)
    {
        public Guid Id { get; } = id;

        /// <summary>Held for a whole action (start, stop ...), so actions on one VM run one at a time.</summary>
        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Held for a state write, which the exit watcher makes outside any action.</summary>
        public SemaphoreSlim WriteLock { get; } = new(1, 1);

        public volatile VmRun? Run;

        /// <summary>Set while the VM's VMM migrates it out, for a cancel that must not wait for the action's gate.</summary>
        public volatile bool MigratingOut;

        /// <summary>Set by a cancel the VMM accepted: the migrate that fails next failed because of it.</summary>
        public volatile bool MigrationCancelled;

        public VmState State { get; set; } = VmState.Defined;

        public string? ExitReason { get; set; }
    }

    /// <summary>One VMM process, started here or adopted.</summary>
    private sealed class VmRun(string socketPath, string logPath, long logOffset)
    {
        private volatile string? _expectedReason;
        private int _expected;

        public string SocketPath { get; } = socketPath;

        public string LogPath { get; } = logPath;

        /// <summary>The log's length when this run began (0 after a rotation): what comes after is this run's.</summary>
        public long LogOffset { get; set; } = logOffset;

        public Process? Child { get; private set; }

        public int Pid { get; private set; }

        public ulong StartTime { get; private set; }

        /// <summary>Completes once the process exited and its final state is recorded.</summary>
        public Task Exited { get; set; } = Task.CompletedTask;

        /// <summary>The exit is recorded; guarded by the VM's write lock.</summary>
        public bool Terminal { get; set; }

        public ExpectedExit Expected => (ExpectedExit)Volatile.Read(ref _expected);

        public string? ExpectedReason => _expectedReason;

        public void AttachChild(Process child)
        {
            Child = child;
            Pid = child.Id;
            StartTime = ProcessProbe.StartTime(child.Id) ?? 0;
        }

        public void AttachAdopted(int pid, ulong startTime)
        {
            Pid = pid;
            StartTime = startTime;
        }

        public void Expect(ExpectedExit expected, string reason)
        {
            _expectedReason = reason;
            Volatile.Write(ref _expected, (int)expected);
        }
    }
}
