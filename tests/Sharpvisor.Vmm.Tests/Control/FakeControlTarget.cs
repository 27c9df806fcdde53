using Sharpvisor.Control;
using Sharpvisor.Vmm.Control;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Tests.Control;

/// <summary>A control target without a machine: records calls, can be told to fail or to block in pause.</summary>
internal sealed class FakeControlTarget : IControlTarget
{
    private int _stops;

    public MachineState State { get; set; } = MachineState.Running;

    public Exception? Failure { get; set; }

    /// <summary>When set, Pause waits for it (a vCPU slow to park).</summary>
    public ManualResetEventSlim? PauseGate { get; set; }

    public int Stops => Volatile.Read(ref _stops);

    public StatusResult Status()
    {
        ThrowIfFailing();
        return new StatusResult(ControlDispatcher.StateName(State), 4242, 1234, 2, 128UL << 20);
    }

    public MachineState Pause()
    {
        ThrowIfFailing();
        PauseGate?.Wait(TimeSpan.FromSeconds(30));
        return State = MachineState.Paused;
    }

    public MachineState Resume()
    {
        ThrowIfFailing();
        return State = MachineState.Running;
    }

    public void Stop()
    {
        Interlocked.Increment(ref _stops);
        State = MachineState.Stopping;
    }

    public MetricsResult Metrics()
    {
        ThrowIfFailing();
        return new MetricsResult(
            [new VcpuMetrics(0, 7, new Dictionary<string, long> { ["io"] = 5, ["mmio"] = 2 })],
            7,
            new Dictionary<string, long> { ["int3"] = 1 },
            10 << 20,
            [new DeviceMetrics(1, "block", new Dictionary<string, long> { ["completed"] = 3 })]);
    }

    /// <summary>The paths snapshot was asked for, in order.</summary>
    public List<string> Snapshots { get; } = [];

    public SnapshotResult Snapshot(string path)
    {
        ThrowIfFailing();
        Snapshots.Add(path);
        return new SnapshotResult(ControlDispatcher.StateName(State), "/abs/" + path, 4096);
    }

    public List<ControlArguments> Migrations { get; } = [];

    public MigrateResult Migrate(ControlArguments arguments)
    {
        ThrowIfFailing();
        Migrations.Add(arguments);
        return new MigrateResult("stopping", 3, 1000, 4_000_000, 900, 40);
    }

    public bool Migrating { get; set; }

    public bool CancelMigration() => Migrating;

    /// <summary>The screenshots asked for: (head, path).</summary>
    public List<(int Head, string Path)> Screenshots { get; } = [];

    public DisplayResult Display()
    {
        ThrowIfFailing();
        return new DisplayResult([new DisplayHeadInfo(0, 1024, 768, "/run/vm.vnc", null)], Password: false);
    }

    public DisplayTicketResult IssueDisplayTicket()
    {
        ThrowIfFailing();
        return new DisplayTicketResult("abcd1234", 60_000);
    }

    public ScreenshotResult Screenshot(int head, string path)
    {
        ThrowIfFailing();
        Screenshots.Add((head, path));
        return new ScreenshotResult(path, 1024, 768);
    }

    private void ThrowIfFailing()
    {
        if (Failure is { } failure)
        {
            throw failure;
        }
    }
}
