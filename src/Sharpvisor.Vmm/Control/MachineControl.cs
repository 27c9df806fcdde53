using System.Globalization;
using Sharpvisor.Control;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio.Transport;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Migration;

namespace Sharpvisor.Vmm.Control;

/// <summary>
/// The control target of a `sharpvisor run` process: whichever machine is current (a guest reset with
/// restart builds a new one), and the process's own way to stop, the same path SIGTERM takes.
/// </summary>
public sealed partial class MachineControl(Action requestStop) : IControlTarget
{
    // How long migrate waits for whoever carries the stream to connect to its socket.
    private static readonly TimeSpan ConsumerTimeout = TimeSpan.FromSeconds(60);

    private Machine.Machine? _machine;
    private CancellationTokenSource? _migration; // while a migration runs
    private MigrationProgress? _progress; // its last round

    /// <summary>Makes <paramref name="machine"/> the one commands act on, before it runs.</summary>
    public void Attach(Machine.Machine machine) => Volatile.Write(ref _machine, machine);

    /// <summary>Forgets the current machine, before it is disposed.</summary>
    public void Detach() => Volatile.Write(ref _machine, null);

    private Machine.Machine Current => Volatile.Read(ref _machine) ?? throw new ControlException("no machine is running (the guest is restarting)");

    public StatusResult Status()
    {
        var machine = Current;
        return new StatusResult(
            ControlDispatcher.StateName(machine.State),
            Environment.ProcessId,
            (long)machine.Uptime.TotalMilliseconds,
            machine.Config.Cpus,
            machine.Config.MemoryBytes)
        {
            Migration = Volatile.Read(ref _progress) is { } p
                ? new MigrationStatus(p.Round, p.PagesSent, p.BytesSent, p.RemainingPages, (long)p.BytesPerSecond, (long)p.ExpectedDowntime.TotalMilliseconds, p.ThrottlePercent)
                : null,
        };
    }

    public MachineState Pause() => Current.Pause();

    public MachineState Resume() => Current.Resume();

    public void Stop() => requestStop();

    public MigrateResult Migrate(ControlArguments arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var machine = Current;
        var options = new MigrationOptions
        {
            DowntimeLimit = arguments.DowntimeMs is { } ms ? TimeSpan.FromMilliseconds(ms) : new MigrationOptions().DowntimeLimit,
            BandwidthLimit = arguments.MaxBandwidth ?? 0,
            AutoConverge = arguments.AutoConverge ?? false,
        };
        using var cancel = new CancellationTokenSource();
        if (Interlocked.CompareExchange(ref _migration, cancel, null) is not null)
        {
            throw new ControlException("a migration is in progress already");
        }

        try
        {
            using var peer = MigrationSocket.AcceptOne(arguments.Path!, ConsumerTimeout, cancel.Token);
            var result = machine.MigrateTo(peer, options, progress => Volatile.Write(ref _progress, progress), cancel.Token);
            // It runs at the destination: the dispatcher stops this process once the reply is out.
            return new MigrateResult(ControlStates.Stopping, result.Rounds, result.PagesSent, result.BytesSent,
                (long)result.Total.TotalMilliseconds, (long)result.Downtime.TotalMilliseconds) { ThrottlePercent = result.ThrottlePercent };
        }
        finally
        {
            Volatile.Write(ref _progress, null);
            Volatile.Write(ref _migration, null);
        }
    }

    public bool CancelMigration()
    {
        var migration = Volatile.Read(ref _migration);
        if (migration is null || Current.HandedOver)
        {
            return false; // none, or past GO: the guest may run at the destination, so a cancel would change nothing
        }

        try
        {
            migration.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false; // it ended meanwhile
        }
    }

    public SnapshotResult Snapshot(string path)
    {
        var machine = Current;
        var wasPaused = machine.State == MachineState.Paused;
        var state = machine.Pause();
        if (state != MachineState.Paused)
        {
            throw new ControlException($"the VM is {ControlDispatcher.StateName(state)}: nothing to snapshot");
        }

        try
        {
            var ramBytes = machine.SaveSnapshot(path);
            return new SnapshotResult(ControlDispatcher.StateName(wasPaused ? MachineState.Paused : machine.Resume()), Path.GetFullPath(path), ramBytes);
        }
        catch when (!wasPaused)
        {
            machine.Resume(); // a failed save leaves the guest running, as it was
            throw;
        }
    }

    public MetricsResult Metrics()
    {
        var machine = Current;
        var vcpus = new List<VcpuMetrics>(machine.VcpuCount);
        for (var i = 0; i < machine.VcpuCount; i++)
        {
            var counts = machine.VcpuExitCounts(i);
            vcpus.Add(new VcpuMetrics(i, counts.Values.Sum(), counts.ToDictionary(c => ExitReasonName(c.Key), c => c.Value, StringComparer.Ordinal)));
        }

        var devices = new List<DeviceMetrics>();
        var functions = machine.PciFunctions;
        for (var i = 0; i < functions.Count; i++)
        {
            // Functions take the slots after the host bridge (slot 0) in order.
            devices.Add(DeviceMetricsOf(i + 1, functions[i]));
        }

        return new MetricsResult(
            vcpus,
            vcpus.Sum(v => v.TotalExits),
            machine.EmulationAssist?.Completed.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal) ?? new Dictionary<string, long>(),
            ProcessMemory.ResidentBytes(),
            devices);
    }

    /// <summary>KVM's name for an exit reason without KVM_EXIT_, lower case: <c>io</c>, <c>ioapic_eoi</c> ...</summary>
    public static string ExitReasonName(VcpuExitReason reason) => reason switch
    {
        VcpuExitReason.Unknown => "unknown",
        VcpuExitReason.Exception => "exception",
        VcpuExitReason.Io => "io",
        VcpuExitReason.Hypercall => "hypercall",
        VcpuExitReason.Debug => "debug",
        VcpuExitReason.Hlt => "hlt",
        VcpuExitReason.Mmio => "mmio",
        VcpuExitReason.IrqWindowOpen => "irq_window_open",
        VcpuExitReason.Shutdown => "shutdown",
        VcpuExitReason.FailEntry => "fail_entry",
        VcpuExitReason.Intr => "intr",
        VcpuExitReason.SetTpr => "set_tpr",
        VcpuExitReason.TprAccess => "tpr_access",
        VcpuExitReason.Nmi => "nmi",
        VcpuExitReason.InternalError => "internal_error",
        VcpuExitReason.SystemEvent => "system_event",
        VcpuExitReason.IoapicEoi => "ioapic_eoi",
        VcpuExitReason.X86Rdmsr => "x86_rdmsr",
        VcpuExitReason.X86Wrmsr => "x86_wrmsr",
        VcpuExitReason.DirtyRingFull => "dirty_ring_full",
        VcpuExitReason.X86BusLock => "x86_bus_lock",
        VcpuExitReason.Notify => "notify",
        _ => "exit_" + ((uint)reason).ToString(CultureInfo.InvariantCulture),
    };

    private static DeviceMetrics DeviceMetricsOf(int slot, VirtioPciDevice function) =>
        new(slot, function.Device.Kind, function.Counters());
}

/// <summary>The process's own memory figures, from /proc/self/status.</summary>
public static class ProcessMemory
{
    /// <summary>VmRSS in bytes; 0 when /proc cannot say.</summary>
    public static long ResidentBytes()
    {
        try
        {
            return ParseResidentBytes(File.ReadAllText("/proc/self/status"));
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The <c>VmRSS:  1234 kB</c> line of a /proc/PID/status text, in bytes; 0 without one.</summary>
    public static long ParseResidentBytes(string status)
    {
        ArgumentNullException.ThrowIfNull(status);
        foreach (var line in status.Split('\n'))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                continue;
            }

            var parts = line["VmRSS:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib)
                ? kib * 1024
                : 0;
        }

        return 0;
    }
}
