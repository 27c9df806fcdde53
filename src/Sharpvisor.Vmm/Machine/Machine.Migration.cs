using System.Diagnostics;
using System.Text;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// Pre-copy live migration between two VMM processes over a byte stream (a unix or TCP socket). The source sends
/// a "MIGR" section (the VM's shape), all RAM, then the pages dirtied meanwhile round after round until the rest
/// fits the downtime limit at the bandwidth measured; then it pauses, sends the last pages and the machine's
/// sections, and the end marker. The hand-over is three lines back and forth so that exactly one side runs:
/// the destination answers READY once it holds the whole VM (it does not run it yet), the source answers GO and
/// from then on never resumes by itself, the destination runs and answers RUNNING, and the source stops. Whatever
/// fails before GO leaves the source running; a source that sent GO and hears nothing stays paused ("postmigrate",
/// as QEMU's): resuming it then is the operator's call, since the destination may be running.
/// </summary>
public sealed partial class Machine
{
    private const string HelloSection = "MIGR";
    private const uint HelloVersion = 1;
    private const string Ready = "READY", Go = "GO", Running = "RUNNING";

    // Under _pauseGate. From the final pause of a migration until its outcome, the guest belongs to the hand-over:
    // Resume is refused, so no one can let it run on here while its state is on its way to the destination.
    private bool _handingOver;
    private bool _migratedAway; // GO was sent: the guest may run at the destination; cancel no longer counts

    // Under _pauseGate. The virtio devices are quiesced for a hand-over and the disks' locks may be the destination's:
    // the next Resume takes the locks back (refused while another process holds one) and lets the devices go on.
    private bool _devicesHeldForHandover;

    // A round that takes longer than this reports how far it is, this often (status, the manager's events).
    private static readonly TimeSpan InRoundReportInterval = TimeSpan.FromMilliseconds(250);

    // Each stream operation of a migration may wait this long for the other side before the migration fails. Generous:
    // a destination on a loaded host can take tens of seconds to build its machine before it reads (30 s was seen to
    // run out in a nested-KVM test), and a peer that dies or hangs up shows at once as a reset, not as this.
    private static readonly TimeSpan StreamIdleTimeout = TimeSpan.FromSeconds(120);

    /// <summary>True once a migration handed the VM over (GO sent): it may run elsewhere now.</summary>
    public bool HandedOver
    {
        get
        {
            lock (_pauseGate)
            {
                return _migratedAway;
            }
        }
    }

    /// <summary>
    /// Migrates the running machine to the destination at the other end of <paramref name="peer"/> (see the type's
    /// summary). On success the VM runs there and stays paused and handed over here: the caller stops it.
    /// </summary>
    public MigrationResult MigrateTo(Stream peer, MigrationOptions options, Action<MigrationProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(options);
        if (State != MachineState.Running)
        {
            throw new MigrationException($"only a running VM migrates; this one is {State.ToString().ToLowerInvariant()}");
        }

        var started = Stopwatch.GetTimestamp();
        // RAM stays mapped while this thread reads it, even if the guest powers off or the VM is stopped meanwhile.
        using var lease = Memory.Lease();
        SetStreamTimeouts(peer);
        // A cancel also ends a write or read that waits on a carrier that stopped moving bytes.
        using var unblock = cancellation.Register(peer.Dispose);
        using var log = DirtyPageLog.Start(_vm, Memory);
        try
        {
            return PreCopy(peer, options, progress, cancellation, log, started);
        }
        catch (Exception e) when (cancellation.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException
            || (cancellation.IsCancellationRequested && e is IOException and not MigrationException))
        {
            throw new MigrationException("the migration was cancelled, the VM runs on here");
        }
        catch (Exception e) when (e is ObjectDisposedException or StateException || e is IOException and not MigrationException)
        {
            throw new MigrationException($"the migration failed, the VM runs on here: {e.Message}");
        }
        finally
        {
            SetThrottle(0);
        }
    }

    private static void SetStreamTimeouts(Stream peer)
    {
        if (peer.CanTimeout)
        {
            peer.ReadTimeout = peer.WriteTimeout = (int)StreamIdleTimeout.TotalMilliseconds;
        }
    }

    private MigrationResult PreCopy(Stream peer, MigrationOptions options, Action<MigrationProgress>? progress, CancellationToken cancellation,
        DirtyPageLog log, long started)
    {
        var writer = new StateWriter(peer);
        var hello = new StatePayload().U32((uint)Config.Cpus).U64(Config.MemoryBytes).U32((uint)Memory.Regions.Count);
        foreach (var region in Memory.Regions)
        {
            hello.U64(region.Start.Value).U64(region.Size);
        }

        writer.Section(HelloSection, HelloVersion, hello);

        // Round 1 sends everything; each later round what the guest wrote during the one before.
        var round = 1;
        var roundStart = Stopwatch.GetTimestamp();
        long totalPages = 0, totalBytes = 0, toSend = (long)(Config.MemoryBytes / PageStream.PageSize);
        int dirtyRateHigh = 0, throttle = 0, highestThrottle = 0;
        var expected = TimeSpan.Zero;
        long previousRemaining = -1;
        var lastReport = roundStart;
        void DuringRound(long roundPages, long roundBytes)
        {
            if (progress is null || Stopwatch.GetElapsedTime(lastReport) < InRoundReportInterval)
            {
                return;
            }

            lastReport = Stopwatch.GetTimestamp();
            var rate = roundBytes / Math.Max(Stopwatch.GetElapsedTime(roundStart).TotalSeconds, 1e-6);
            progress(new MigrationProgress(round, totalPages + roundPages, totalBytes + roundBytes, Math.Max(0, toSend - roundPages), rate, expected, throttle)
            {
                RoundComplete = false,
            });
        }

        var batch = PageStream.NewBatch();
        var (pages, bytes) = PageStream.Send(writer, Memory, null, options.BandwidthLimit, batch, cancellation, DuringRound);
        totalPages = pages;
        totalBytes = bytes;
        while (true)
        {
            var seconds = Math.Max(Stopwatch.GetElapsedTime(roundStart).TotalSeconds, 1e-6);
            var bandwidth = bytes / seconds;
            var dirty = log.Collect();
            var remaining = CountPages(dirty);
            expected = TimeSpan.FromSeconds(remaining * (double)PageStream.PageSize / Math.Max(bandwidth, 1));
            progress?.Invoke(new MigrationProgress(round, totalPages, totalBytes, remaining, bandwidth, expected, throttle));
            if (round >= options.MaxRounds || (expected <= options.DowntimeLimit && !WorthAnotherRound(remaining, previousRemaining, expected, options)))
            {
                return Complete(peer, writer, batch, log, dirty, options, started, round, totalPages, totalBytes, highestThrottle, cancellation);
            }

            // Auto-converge, by QEMU's rule: a round in which the guest dirtied more than half of what the link carried
            // is a round the guest is winning; after two such rounds the vCPUs are held back more, until it loses.
            dirtyRateHigh = remaining * PageStream.PageSize > bytes / 2 ? dirtyRateHigh + 1 : 0;
            if (options.AutoConverge && dirtyRateHigh >= 2)
            {
                throttle = Math.Min(99, throttle == 0 ? options.ThrottleInitial : throttle + options.ThrottleIncrement);
                highestThrottle = Math.Max(highestThrottle, throttle);
                SetThrottle(throttle);
                dirtyRateHigh = 0;
            }

            previousRemaining = remaining;
            round++;
            roundStart = lastReport = Stopwatch.GetTimestamp();
            toSend = remaining;
            (pages, bytes) = PageStream.Send(writer, Memory, dirty, options.BandwidthLimit, batch, cancellation, DuringRound);
            totalPages += pages;
            totalBytes += bytes;
        }
    }

    /// <summary>
    /// Whether one more round while the guest runs should come before the pause, though the rest already fits the
    /// downtime limit: the pages left were dirtied during a whole (maybe long, paced) round, and sending them while the
    /// guest runs leaves only what it dirties in that shorter round. Worth it while rounds at least halve and the rest
    /// is not already a small part of the limit; a guest that stops shrinking goes to the pause at once.
    /// </summary>
    private static bool WorthAnotherRound(long remaining, long previousRemaining, TimeSpan expected, MigrationOptions options) =>
        remaining > 0
        && expected > options.DowntimeLimit / 8
        && (previousRemaining < 0 || remaining * 2 <= previousRemaining);

    /// <summary>The last round with the vCPUs parked, then the hand-over.</summary>
    private MigrationResult Complete(Stream peer, StateWriter writer, StatePayload batch, DirtyPageLog log, IReadOnlyList<ulong[]> lastRound,
        MigrationOptions options, long started, int rounds, long totalPages, long totalBytes, int highestThrottle, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        lock (_pauseGate)
        {
            if (Pause() != MachineState.Paused)
            {
                throw new MigrationException("the VM stopped during the migration");
            }

            _handingOver = true;
        }

        var paused = Stopwatch.GetTimestamp();
        var goSent = false;
        try
        {
            // The requests the devices took finish now, and what they write into RAM is in the last Collect.
            QuiesceDevices();
            lock (_pauseGate)
            {
                _devicesHeldForHandover = _pci is not null;
            }

            // Pages written between the last Collect and the pause, and those of the round not sent yet.
            var final = log.Collect();
            for (var slot = 0; slot < final.Count; slot++)
            {
                for (var i = 0; i < final[slot].Length; i++)
                {
                    final[slot][i] |= lastRound[slot][i];
                }
            }

            var (pages, bytes) = PageStream.Send(writer, Memory, final, 0, batch, cancellation);
            lock (_pauseGate)
            {
                CaptureState()(writer);
            }

            writer.End();
            peer.Flush();
            ExpectLine(peer, Ready, options.HandoverTimeout);
            lock (_pauseGate)
            {
                // The last moment a cancel counts: from GO on the VM belongs to the destination.
                cancellation.ThrowIfCancellationRequested();
                _migratedAway = true;
            }

            // One writer per disk: ours stops here, durably, and the destination takes each lock once it has GO.
            _pci?.ReleaseDiskLocks();
            WriteLine(peer, Go);
            goSent = true;
            ExpectLine(peer, Running, options.HandoverTimeout);
            var downtime = Stopwatch.GetElapsedTime(paused);
            return new MigrationResult(rounds + 1, totalPages + pages, totalBytes + bytes, Stopwatch.GetElapsedTime(started), downtime, highestThrottle);
        }
        catch (Exception e) when (!goSent)
        {
            // Whatever it was (the peer, KVM, the state itself), before GO the guest is still this VM's: it runs on.
            ReturnFromHandover();
            try
            {
                Resume();
            }
            catch (Exception resume) when (resume is InvalidOperationException or IOException)
            {
                throw new MigrationException($"the migration failed ({e.Message}) and the VM stays paused here: {resume.Message}");
            }

            throw e is OperationCanceledException || cancellation.IsCancellationRequested
                ? new OperationCanceledException(e.Message, e, cancellation)
                : new MigrationException($"the migration failed, the VM runs on here: {e.Message}");
        }
        catch (Exception e) when (e is IOException or MigrationException or ObjectDisposedException)
        {
            // Postmigrate: the destination got GO and may run the guest, or died before it could. Only an operator
            // who knows can resume it here, and may now.
            ReturnFromHandover();
            throw new MigrationException($"the destination did not confirm that it runs the VM ({e.Message}): the VM stays paused here; resume it only if the destination is not running it");
        }
        finally
        {
            lock (_pauseGate)
            {
                _handingOver = false;
            }
        }
    }

    /// <summary>
    /// Before a Resume (under the pause gate): the devices a hand-over quiesced go on, with every disk lock taken back
    /// first. When another process holds one (the destination runs the VM) nothing is resumed.
    /// </summary>
    private void ReleaseDevicesFromHandover()
    {
        if (!_devicesHeldForHandover)
        {
            return;
        }

        try
        {
            _pci?.TakeDiskLocks();
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"not resumed: {e.Message}; the migration destination may be running this VM");
        }

        _pci?.Unquiesce();
        _devicesHeldForHandover = false;
    }

    /// <summary>The hand-over did not happen (or is not known to have): the guest is this VM's again, to resume.</summary>
    private void ReturnFromHandover()
    {
        lock (_pauseGate)
        {
            _handingOver = false;
            _migratedAway = false;
        }
    }

    /// <summary>
    /// Builds the machine a source sends over <paramref name="peer"/> (<see cref="MigrateTo"/>), answers READY, and waits
    /// for GO. The caller then tells the source RUNNING (<see cref="ConfirmRunning"/>) and runs it. Anything wrong in the
    /// stream (a bad section, RAM outside this VM, a VM of another shape) ends it before READY, so the source runs on.
    /// </summary>
    public static Machine ReceiveFrom(VmConfig config, Stream peer, TimeSpan handoverTimeout)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(peer);
        HostLimits.CheckWithoutHost(config);
        SetStreamTimeouts(peer);
        var reader = new StateReader(peer, long.MaxValue);
        var hello = reader.Next() ?? throw new StateException("the stream ended before the VM was described");
        if (hello.Name != HelloSection)
        {
            throw new StateException($"the stream starts with section {hello.Name}, not {HelloSection}: not a migration");
        }

        var r = hello.Expect(HelloVersion).Reader();
        var cpus = r.U32();
        var memoryBytes = r.U64();
        if (cpus != config.Cpus || memoryBytes != config.MemoryBytes)
        {
            throw new MigrationException($"the incoming VM has {cpus} vCPUs and {memoryBytes >> 20} MiB; this destination was started with {config.Cpus} and {config.MemoryBytes >> 20} MiB");
        }

        var regions = r.U32();
        var ranges = new List<(GuestAddress, ulong)>();
        for (var i = 0; i < regions && i < 64; i++)
        {
            ranges.Add((new GuestAddress(r.U64()), r.U64()));
        }

        r.ExpectEnd();
        var machine = Build(config, layout => GuestMemory.Create(layout.RamRanges), (machine, supportedCpuid, layout) =>
        {
            if (regions != ranges.Count || !ranges.SequenceEqual(layout.RamRanges))
            {
                throw new StateException("the incoming VM's RAM regions are not this VM's");
            }

            machine.AddPciDevicesForRestore(lockDisks: false);
            var sections = new StateSectionBudget();
            var pages = new PageReceiver(machine.Memory);
            while (reader.Next() is { } section)
            {
                if (section.Name == PageStream.Tag)
                {
                    pages.Apply(section);
                }
                else
                {
                    sections.Add(section);
                }
            }

            machine.Apply(SavedMachine.Read(sections.Sections, config), supportedCpuid);
        });

        try
        {
            WriteLine(peer, Ready);
            ExpectLine(peer, Go, handoverTimeout);
            machine.TakeOverDevices();
            return machine;
        }
        catch
        {
            machine.Dispose();
            throw;
        }
    }

    /// <summary>
    /// At the destination after GO: the source has dropped its disks' locks, so they are taken here (a disk another
    /// process still holds fails the migration: the guest never runs with two writers), the devices go on, and each
    /// NIC announces its MAC.
    /// </summary>
    private void TakeOverDevices()
    {
        if (_pci is null)
        {
            return;
        }

        try
        {
            _pci.TakeDiskLocks();
        }
        catch (IOException e)
        {
            throw new MigrationException($"the VM is not run here: {e.Message}");
        }

        _pci.Unquiesce();
        _pci.AnnounceNics(); // switches learn the guest's MAC is here now, before the guest says a word
    }

    /// <summary>The destination's last word: it runs the VM now, so the source may stop.</summary>
    public static void ConfirmRunning(Stream peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        WriteLine(peer, Running);
    }

    private static long CountPages(IReadOnlyList<ulong[]> bitmaps) =>
        bitmaps.Sum(bitmap => bitmap.Sum(word => (long)ulong.PopCount(word)));

    private static void WriteLine(Stream peer, string word)
    {
        peer.Write(Encoding.ASCII.GetBytes(word + "\n"));
        peer.Flush();
    }

    /// <summary>Reads one short line within <paramref name="timeout"/>; the peer's words are hostile, so 64 bytes at most.</summary>
    private static void ExpectLine(Stream peer, string expected, TimeSpan timeout)
    {
        var line = new StringBuilder();
        using var deadline = new CancellationTokenSource(timeout);
        var one = new byte[1];
        while (true)
        {
            int read;
            try
            {
                read = peer.ReadAsync(one, deadline.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new MigrationException($"no {expected} from the other side within {timeout.TotalSeconds:0} s");
            }

            if (read == 0)
            {
                throw new MigrationException($"the other side closed the connection before {expected}");
            }

            if (one[0] == '\n')
            {
                break;
            }

            if (line.Length >= 64 || one[0] is < 0x20 or > 0x7e)
            {
                throw new MigrationException($"the other side sent something other than {expected}");
            }

            line.Append((char)one[0]);
        }

        if (line.ToString() != expected)
        {
            throw new MigrationException($"the other side answered '{line}' instead of {expected}");
        }
    }
}
