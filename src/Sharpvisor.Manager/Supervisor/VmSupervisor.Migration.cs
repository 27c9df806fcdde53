using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// Live migration between managers: each side's VMM listens on a unix socket in its own directory (VMMs make no
/// connections, docs/migration.md) and the supervisor carries the bytes between that socket and the stream to the
/// other manager. The source's VMM is told to <c>migrate</c>; the destination's is started with <c>--incoming</c>.
/// </summary>
public sealed partial class VmSupervisor
{
    private const int RelayBufferSize = 256 * 1024;

    // How long a destination VMM whose stream broke may take to exit by itself, saying why, before it is killed.
    private static readonly TimeSpan RefusalGrace = TimeSpan.FromSeconds(5);

    // How long a finished relay waits for the other manager's close before it lets go.
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(10);

    // How often the source's VMM is asked how far its migration is, and how often a round that goes on is an event.
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ProgressEventInterval = TimeSpan.FromSeconds(1);

    // A whole pre-copy migration of a large, busy guest can take minutes; the VMMs' own 30 s idle timeouts end a stalled one first.
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromHours(1);

    /// <summary>RUNDIR/ID/migrate.sock: where a VMM listens for the migration stream, sending or receiving.</summary>
    public string MigrationSocketPath(Guid id) => Path.Combine(VmDirectory(id), "migrate.sock");

    /// <summary>
    /// Starts the VM's VMM as a migration destination and carries <paramref name="peer"/> (the source's stream, binary
    /// messages) to it;
    /// returns once the guest runs here. When the VMM refuses or loses the stream it exits and the VM is failed:
    /// <see cref="VmStartException"/>. The caller's <paramref name="definition"/> has its paths resolved.
    /// </summary>
    public async Task<VmStatus> ReceiveAsync(VmDefinition definition, WebSocket peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(peer);
        var vm = _vms.GetOrAdd(definition.Id, static id => new ManagedVm(id));
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            RequireStartable(vm, "receive a migration into");
            var path = MigrationSocketPath(vm.Id);
            TryDelete(path);
            var run = await SpawnRunAsync(vm, definition, restoreFrom: null, incoming: path).ConfigureAwait(false);
            try
            {
                using var socket = await ConnectMigrationSocketAsync(run, path, cancellationToken).ConfigureAwait(false);
                await RelayAsync(peer, socket, run, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or WebSocketException or ControlException or OperationCanceledException or ObjectDisposedException)
            {
                // A VMM that refused the stream exits by itself with its reason (in its log and exit record): let it.
                if (!await CompletesWithinAsync(run.Exited, RefusalGrace, CancellationToken.None).ConfigureAwait(false))
                {
                    run.Expect(ExpectedExit.Failed, $"the migration did not arrive: {e.Message}");
                    KillProcess(run);
                    await run.Exited.ConfigureAwait(false);
                }

                throw new VmStartException(vm.Id, vm.ExitReason ?? $"the migration did not arrive: {e.Message}", e);
            }

            await AppendEventAsync(vm.Id, "migrated in: the VM runs here").ConfigureAwait(false);
            return await AwaitControlAsync(vm, run, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>
    /// Has the running VM's VMM migrate to the other end of <paramref name="peer"/> (<paramref name="arguments"/>: downtime,
    /// bandwidth, auto-converge) and carries the stream; returns the VMM's answer once the guest runs there and this
    /// VMM has exited. A failed migration throws <see cref="MigrationFailedException"/> with the VMM's reason: the VM then runs
    /// on here (or, after the hand-over began, stays paused here for the operator: the VMM's message says which).
    /// </summary>
    public async Task<MigrateResult> MigrateOutAsync(Guid id, WebSocket peer, ControlArguments arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(arguments);
        var vm = Lookup(id, "migrate");
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var run = RequireState(vm, "migrate", VmState.Running);
            var path = MigrationSocketPath(id);
            TryDelete(path);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(MigrationTimeout);
            MigrateResult result;
            vm.MigrationCancelled = false;
            vm.MigratingOut = true;
            try
            {
                using var client = await ConnectCheckedAsync(run, timeout.Token).ConfigureAwait(false);
                var migrating = client.MigrateAsync(arguments with { Path = path }, timeout.Token);
                Task reporting;
                using (var socket = await ConnectMigrationSocketAsync(run, path, timeout.Token, migrating).ConfigureAwait(false))
                {
                    // From here the rounds run; before it there is nothing to report (and no task left behind if the VMM never listened).
                    reporting = ReportProgressAsync(vm.Id, run, migrating, timeout.Token);
                    try
                    {
                        await RelayAsync(peer, socket, run, timeout.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or SocketException or WebSocketException or ObjectDisposedException)
                    {
                        // The stream broke: the VMM sees it too and its answer says what that meant for the VM.
                    }
                }

                await reporting.ConfigureAwait(false);
                result = await migrating.ConfigureAwait(false);
            }
            catch (Exception e) when ((IsControlFailure(e) || e is WebSocketException) && !cancellationToken.IsCancellationRequested)
            {
                throw vm.MigrationCancelled
                    ? new MigrationConflictException($"the migration of VM {vm.Id} was cancelled: {e.Message}", e)
                    : new MigrationFailedException($"the migration of VM {vm.Id} failed: {e.Message}", e);
            }
            finally
            {
                vm.MigratingOut = false;
            }

            run.Expect(ExpectedExit.Stop, "migrated to another manager");
            await AppendEventAsync(vm.Id, $"migrated out in {result.TotalMs} ms ({result.Rounds} rounds, downtime {result.DowntimeMs} ms)").ConfigureAwait(false);
            if (!await CompletesWithinAsync(run.Exited, _options.StopTimeout, cancellationToken).ConfigureAwait(false))
            {
                KillProcess(run); // it handed the guest over and has nothing left to do
                await run.Exited.ConfigureAwait(false);
            }

            return result;
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>
    /// Cancels the VM's migration under way (<c>migrate-cancel</c> to its VMM, without waiting for the migrate, which
    /// holds the VM's gate): its migrate then fails with <see cref="MigrationConflictException"/> and the VM runs on
    /// here. <see cref="MigrationConflictException"/> when there is none, or when it is past the hand-over (the guest
    /// may run at the destination already, as QEMU refuses a cancel once it completes).
    /// </summary>
    public async Task CancelMigrationAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var vm = Lookup(id, "cancel the migration of");
        if (!vm.MigratingOut || vm.Run is not { } run)
        {
            throw new MigrationConflictException($"VM {id} is not migrating");
        }

        // Set first: the migrate may fail from the cancel before its answer reaches here.
        vm.MigrationCancelled = true;
        try
        {
            await ControlAsync(run, (client, token) => client.ChangeStateAsync(ControlCommands.MigrateCancel, token), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            vm.MigrationCancelled = false;
            throw new MigrationConflictException($"cannot cancel the migration of VM {id}: {e.Message}", e);
        }

        await AppendEventAsync(id, "migration cancelled").ConfigureAwait(false);
    }

    /// <summary>
    /// Until the migration ends: each new round the VMM's <c>status</c> shows becomes one of the VM's events (what is
    /// sent, what is dirty, the bandwidth, the downtime it expects), which the event stream and the web UI show.
    /// </summary>
    private async Task ReportProgressAsync(Guid id, VmRun run, Task migrating, CancellationToken cancellationToken)
    {
        var reported = (Round: 0, Bytes: 0L);
        var lastEvent = 0L;
        while (await Task.WhenAny(migrating, Task.Delay(ProgressInterval, cancellationToken)).ConfigureAwait(false) != migrating)
        {
            MigrationStatus? p;
            try
            {
                p = (await ControlAsync(run, (client, token) => client.StatusAsync(token), cancellationToken).ConfigureAwait(false)).Migration;
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                continue; // busy (the last round holds the VM paused) or ending: the outcome comes from migrate
            }

            // A new round at once; more bytes of the same round at most once a second, so a long round shows it moves.
            if (p is null || (p.Round, p.BytesSent) == reported
                || (p.Round == reported.Round && Stopwatch.GetElapsedTime(lastEvent) < ProgressEventInterval))
            {
                continue;
            }

            reported = (p.Round, p.BytesSent);
            lastEvent = Stopwatch.GetTimestamp();
            await AppendEventAsync(id, $"migration round {p.Round}: {p.BytesSent >> 20} MiB sent, {(p.RemainingPages * 4) >> 10} MiB to go, "
                + $"{p.BytesPerSecond >> 20} MiB/s, expected downtime {p.ExpectedDowntimeMs} ms"
                + (p.ThrottlePercent > 0 ? $", vCPUs throttled {p.ThrottlePercent} %" : "")).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The VMM's migration socket, once it listens, checked to be served by that VMM (the socket lies in a directory it
    /// owns). Gives up when the VMM exits, when <paramref name="giveUp"/> (its migrate answer) comes first, or after the
    /// start timeout.
    /// </summary>
    private async Task<Socket> ConnectMigrationSocketAsync(VmRun run, string path, CancellationToken cancellationToken, Task? giveUp = null)
    {
        var deadline = DateTime.UtcNow + _options.StartTimeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
                SocketPeer.Expect(socket, run.Pid, "the migration socket");
                return socket;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !run.Exited.IsCompleted && giveUp is not { IsCompleted: true })
            {
                socket.Dispose();
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                if (giveUp is { IsCompleted: true })
                {
                    await giveUp.ConfigureAwait(false); // its error says why the VMM stopped listening
                }

                throw;
            }
        }
    }

    /// <summary>
    /// Carries bytes both ways until the VMM closes its end (it does once the hand-over is over, whichever way it went)
    /// or exits, then closes the WebSocket's sending half so the other manager sees the end after the last byte, and
    /// waits a little for the other side's own close. A message's type and boundaries carry nothing: it is one stream.
    /// </summary>
    private static async Task RelayAsync(WebSocket peer, Socket socket, VmRun run, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var vmm = new NetworkStream(socket, ownsSocket: false);
        await using var remote = WebSocketStream.Create(peer, WebSocketMessageType.Binary, ownsWebSocket: false);
        var fromVmm = CopyAsync(vmm, remote, stop.Token);
        var toVmm = CopyThenShutdownAsync(remote, vmm, socket, stop.Token);
        var ended = await Task.WhenAny(fromVmm, run.Exited).ConfigureAwait(false);
        try
        {
            await ended.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                using var closing = new CancellationTokenSource(CloseGrace);
                if (peer.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await peer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, closing.Token).ConfigureAwait(false);
                }

                await Task.WhenAny(toVmm, Task.Delay(CloseGrace, CancellationToken.None)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The other side went away first: nothing more to say to it.
            }

            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(fromVmm, toVmm).ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    private static async Task CopyAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[RelayBufferSize];
        int read;
        while ((read = await from.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            await to.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task CopyThenShutdownAsync(Stream from, Stream to, Socket socket, CancellationToken cancellationToken)
    {
        try
        {
            await CopyAsync(from, to, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The VMM reads end of stream also when the other manager broke off (a cancelled migration, a lost link),
            // at once: else a destination's VMM would wait out its idle timeout, and its VM could not be deleted.
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The VMM closed first.
            }
        }
    }
}
