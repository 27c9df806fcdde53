namespace Sharpvisor.Manager.Supervisor;

/// <summary>Timeouts of a <see cref="VmSupervisor"/>.</summary>
public sealed record VmSupervisorOptions
{
    /// <summary>
    /// How long a new VMM has to answer <c>status</c> on its control socket. The wait ends as soon as it answers, so
    /// the ceiling is generous: a loaded or emulated host (a nested KVM host) can take many seconds to start a process.
    /// </summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a VMM has to exit after a control <c>stop</c> before it gets SIGKILL.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one control request may take.</summary>
    public TimeSpan ControlTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an adopted VMM (not this process's child) is checked for having exited.</summary>
    public TimeSpan AdoptedPollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A VMM's log is rotated (one older generation kept) when it grows past this (<see cref="VmLogFile"/>).</summary>
    public long LogMaxBytes { get; init; } = VmLogFile.DefaultMaxBytes;

    /// <summary>How often a running VMM's log size is checked against <see cref="LogMaxBytes"/>.</summary>
    public TimeSpan LogCheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Run each VMM in a <see cref="VmmJail"/> when this host can (the manager is root); false: never.</summary>
    public bool Confine { get; init; } = true;

    /// <summary>The first uid of the range confined VMMs run as, one uid per running VM (<see cref="VmmUids"/>).</summary>
    public uint VmmUidFirst { get; init; } = VmmUids.DefaultFirst;

    /// <summary>How many uids that range has.</summary>
    public uint VmmUidCount { get; init; } = VmmUids.DefaultCount;

    /// <summary>Variables added to each VMM's environment (a test hook, e.g. the seccomp self-test).</summary>
    public IReadOnlyDictionary<string, string>? VmmEnvironment { get; init; }

    /// <summary>The KVM device every VMM opens (<c>run --kvm</c>); null: the VMM's default, /dev/kvm.</summary>
    public string? KvmDevice { get; init; }
}
