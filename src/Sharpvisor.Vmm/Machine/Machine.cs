using System.Diagnostics;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Acpi;
using Sharpvisor.Vmm.Arch.X86.Boot;
using Sharpvisor.Vmm.Arch.X86.Emulation;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Legacy;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// One running VM: KVM objects, guest RAM, the PC devices, and one thread per vCPU. Built complete by
/// <see cref="Create"/>; <see cref="Run"/> blocks until the first stop reason, then every vCPU is kicked out
/// of KVM_RUN and joined before the result is returned. <see cref="Pause"/> and <see cref="Resume"/> park and release
/// the vCPUs meanwhile (devices keep running).
/// </summary>
public sealed partial class Machine : IVcpuHost, IDisposable
{
    // Three pages KVM uses for real-mode emulation on Intel, and one for its identity map: both in the MMIO
    // hole just below the IOAPIC/LAPIC pages, where they cannot collide with RAM.
    private const ulong TssAddress = 0xFFFB_D000;
    private const ulong IdentityMapAddress = 0xFFFB_C000;

    // ISA IRQ 4 (COM1) on I/O APIC pin 4; ISA IRQ 0 (PIT) on pin 2, the PC's usual interrupt source override.
    private const int SerialPin = 4;
    private const int TimerPin = 2;

    // How often Pause kicks a vCPU that has not parked yet. One kick is enough by the argument in VcpuRunner's loop;
    // kicking again costs nothing and keeps Pause from resting on it.
    private static readonly TimeSpan PauseKickInterval = TimeSpan.FromMilliseconds(20);

    // How long Dispose waits for vCPU threads a caller left running: a process being stopped must not hang on one.
    private static readonly TimeSpan TeardownDeadline = TimeSpan.FromMilliseconds(500);

    // vCPUs that have just started leave at once; the ceiling is only for a machine too slow to schedule them.
    private static readonly TimeSpan StartFailureDeadline = TimeSpan.FromSeconds(30);

    private readonly KvmSystem _kvm;
    private readonly KvmVm _vm;
    private readonly List<KvmVcpu> _vcpus = [];
    private readonly List<VcpuRunner> _runners = [];
    private readonly List<kvm_cpuid_entry2[]> _cpuid = []; // what each vCPU was given, for a snapshot
    private readonly List<State.IDeviceState> _deviceStates = []; // every device with saved state, in restore order
    private readonly ManualResetEventSlim _stopped = new();

    // Host input arrives on its own thread and raises guest interrupts through the VM: it must be over before the VM
    // goes away. The token unblocks input waiting for room in the UART once a stop is requested.
    private readonly Lock _inputGate = new();
    private readonly CancellationTokenSource _inputStop = new();
    private bool _inputClosed;
    private readonly MsiRouter _msiRouter;
    private readonly GuestRipProfiler? _profiler;
    // Guards the vCPUs' Active/Parked flags, _paused and _disposed; vCPUs wait on it while parked (Monitor).
    private readonly object _pauseGate = new();
    private StopReason? _stopReason;
    private int _pauseRequested; // written under _pauseGate, read by vCPU threads without it
    private int _throttlePercent; // auto-converge: 0 (off) to 99, read by vCPU threads
    private Timer? _throttleKicker;
    private bool _paused;
    private bool _disposed;
    private long _startTimestamp;
    private Pit8254? _pit;
    private PciDevices? _pci;

    private Machine(VmConfig config, KvmSystem kvm, KvmVm vm, GuestMemory memory)
    {
        Config = config;
        _kvm = kvm;
        _vm = vm;
        Memory = memory;
        PortIo = new IoBus("port I/O");
        Mmio = new IoBus("MMIO");
        _msiRouter = new MsiRouter(vm, IoApic.PinCount);
        IoApic = new IoApic(_msiRouter.DirectSink);
        EmulationAssist = config.EmulationWorkarounds ? new EmulationAssist() : null;
        Serial = new Uart16550(IoApic.Pin(SerialPin), config.SerialOutput);
        _profiler = config.GuestProfile is { } profile ? new GuestRipProfiler(profile) : null;
    }

    public VmConfig Config { get; }

    public GuestMemory Memory { get; }

    public IoBus PortIo { get; }

    public IoBus Mmio { get; }

    public Uart16550 Serial { get; }

    public IoApic IoApic { get; }

    /// <summary>Completes instructions an emulating KVM (PVM) cannot; null when the workarounds are off.</summary>
    public EmulationAssist? EmulationAssist { get; }

    public bool StopRequested => Volatile.Read(ref _stopReason) is not null;

    bool IVcpuHost.PauseRequested => Volatile.Read(ref _pauseRequested) != 0;

    int IVcpuHost.ThrottlePercent => Volatile.Read(ref _throttlePercent);

    public long TotalExits => _runners.Sum(r => r.TotalExits);

    /// <summary>Stopping once a stop was requested; paused between a completed <see cref="Pause"/> and <see cref="Resume"/>.</summary>
    public MachineState State
    {
        get
        {
            lock (_pauseGate)
            {
                return StopRequested ? MachineState.Stopping : _paused ? MachineState.Paused : MachineState.Running;
            }
        }
    }

    /// <summary>Time since <see cref="Run"/> started the vCPUs (zero before).</summary>
    public TimeSpan Uptime
    {
        get
        {
            var start = Volatile.Read(ref _startTimestamp);
            return start == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(start);
        }
    }

    public int VcpuCount => _runners.Count;

    /// <summary>vCPU <paramref name="index"/>'s exits so far, by KVM exit reason (only the reasons seen).</summary>
    public IReadOnlyDictionary<VcpuExitReason, long> VcpuExitCounts(int index) => _runners[index].ExitCounts();

    /// <summary>The virtio-pci functions, in slot order (empty without PCI devices).</summary>
    public IReadOnlyList<Devices.Virtio.Transport.VirtioPciDevice> PciFunctions => _pci?.Functions ?? [];

    /// <summary>Host keystrokes for the guest: to the virtio console when there is one, else to COM1.</summary>
    public void QueueConsoleInput(ReadOnlySpan<byte> bytes)
    {
        lock (_inputGate)
        {
            if (_inputClosed || StopRequested)
            {
                return; // a keystroke racing a quit: the machine is going away
            }

            if (_pci?.Console is { } console)
            {
                console.QueueInput(bytes);
            }
            else
            {
                Serial.QueueInput(bytes, _inputStop.Token);
            }
        }
    }

    /// <summary>Builds the VM: memory, irqchip, PIT, devices, the kernel in RAM and every vCPU's boot state.</summary>
    public static Machine Create(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        HostLimits.CheckWithoutHost(config);
        var kernel = KernelImage.Parse(config.Kernel, config.KernelDescription);
        return Build(config, layout => GuestMemory.Create(layout.RamRanges), (machine, supportedCpuid, layout) =>
        {
            var memory = machine.Memory;
            var acpi = new AcpiTableBuilder(config.Cpus) { PciHostBridge = config.HasPciDevices };
            if (config.HasPciDevices)
            {
                machine.AddPciDevices();
                acpi.AddTable(Mcfg.Build());
            }

            var rsdp = acpi.WriteTo(memory);
            MpTable.WriteTo(memory, config.Cpus);
            var entry = kernel.Load(memory, layout, new BootInputs(CommandLineFor(config, kernel), config.Initrd ?? ReadOnlyMemory<byte>.Empty, rsdp));
            machine.CreateVcpus(supportedCpuid, entry);
        });
    }

    /// <summary>
    /// The VM and its legacy devices over the memory <paramref name="createMemory"/> gives; <paramref name="complete"/>
    /// adds the rest (PCI devices, vCPUs and their state). Whatever fails on the way is disposed.
    /// </summary>
    private static Machine Build(VmConfig config, Func<MemoryLayout, GuestMemory> createMemory, Action<Machine, CpuidEntry[], MemoryLayout> complete)
    {
        var kvm = KvmSystem.Open(config.KvmPath);
        KvmVm? vm = null;
        GuestMemory? memory = null;
        try
        {
            var supportedCpuid = HostLimits.SupportedCpuid(kvm);
            var layout = HostLimits.CheckAndLayOut(config, kvm, supportedCpuid);

            vm = kvm.CreateVm();
            vm.SetTssAddress(TssAddress);
            vm.SetIdentityMapAddress(IdentityMapAddress);
            // Only the local APICs live in the kernel; the I/O APIC and PIT are ours. Creating and tearing
            // down KVM's in-kernel PIC/IOAPIC/PIT costs tens of milliseconds per VM (docs/benchmarks.md).
            vm.CreateSplitIrqchip(IoApic.PinCount);

            memory = createMemory(layout);
            for (var slot = 0; slot < memory.Regions.Count; slot++)
            {
                var region = memory.Regions[slot];
                vm.SetUserMemoryRegion((uint)slot, region.Start.Value, region.Size, region.Mapping.Address);
            }

            var machine = new Machine(config, kvm, vm, memory);
            try
            {
                machine.AddLegacyDevices();
                complete(machine, supportedCpuid, layout);
                return machine;
            }
            catch
            {
                machine.Dispose();
                throw;
            }
        }
        catch when (memory is null || vm is null)
        {
            memory?.Dispose();
            vm?.Dispose();
            kvm.Dispose();
            throw;
        }
    }

    /// <summary>Runs every vCPU until the machine stops, and returns why.</summary>
    public StopReason Run(CancellationToken cancellationToken = default)
    {
        VcpuThreadSignal.EnsureInstalled();
        using var registration = cancellationToken.Register(() => RequestStop(StopReason.Host("stopped by the host")));
        try
        {
            lock (_pauseGate)
            {
                // Under the gate, so a concurrent Pause either sees these vCPUs active or they see its request.
                foreach (var runner in _runners)
                {
                    runner.Active = true;
                    runner.Start();
                    AfterVcpuStarted?.Invoke((int)runner.Id);
                }

                Volatile.Write(ref _startTimestamp, Stopwatch.GetTimestamp());
            }

            _profiler?.Start(_runners);
        }
        catch (Exception e)
        {
            // Some vCPUs run already: they must be out of the guest before the caller disposes what they use.
            RequestStop(StopReason.Error($"the VM did not start: {e.Message}"));
            _ = JoinVcpus(StartFailureDeadline);
            throw;
        }

        _stopped.Wait(CancellationToken.None);
        // A vCPU stuck outside the guest (in a device's bounded reset wait, or writing to a console nobody reads) is
        // not waited for: Dispose leaves its kvm_run page alone and RAM stays leased to it.
        var joined = JoinVcpus(TeardownDeadline);
        _profiler?.Dispose();
        if (joined)
        {
            Serial.Flush(); // not with a vCPU still there: it may hold the UART, blocked on output nobody reads
        }

        return _stopReason!;
    }

    /// <summary>A test's way to make <see cref="Run"/> fail after some vCPU threads started.</summary>
    internal Action<int>? AfterVcpuStarted { get; set; }

    /// <summary>vCPU threads still running; 0 once <see cref="Run"/> has returned or thrown.</summary>
    public int LiveVcpuThreads => _runners.Count(r => r.ThreadAlive);

    /// <summary>
    /// Kicks each vCPU until its thread leaves (a signal that lands just before KVM_RUN is covered by
    /// immediate_exit); false when <paramref name="deadline"/> passed with one still there (stuck outside KVM_RUN,
    /// e.g. in a device reset that waits for its own deadline).
    /// </summary>
    private bool JoinVcpus(TimeSpan deadline)
    {
        var until = Stopwatch.GetTimestamp() + (long)(deadline.TotalSeconds * Stopwatch.Frequency);
        foreach (var runner in _runners)
        {
            while (runner.Thread is { } thread && !thread.Join(TimeSpan.FromMilliseconds(50)))
            {
                if (Stopwatch.GetTimestamp() > until)
                {
                    return false;
                }

                runner.Kick();
            }
        }

        return true;
    }

    public void RequestStop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _stopReason, reason, null) is not null)
        {
            return;
        }

        foreach (var runner in _runners)
        {
            runner.Kick();
        }

        _inputStop.Cancel();
        lock (_pauseGate)
        {
            // Parked vCPUs wake, see the stop and leave; a Pause in progress gives up.
            Monitor.PulseAll(_pauseGate);
        }

        _stopped.Set();
    }

    /// <summary>
    /// Parks every vCPU outside KVM_RUN and returns once all are parked: <see cref="MachineState.Paused"/>. Idempotent.
    /// Returns <see cref="MachineState.Stopping"/> instead when a stop comes first, and <see cref="MachineState.Running"/>
    /// when a <see cref="Resume"/> overtakes it. Devices keep running. Not for a vCPU thread (it would wait for itself).
    /// </summary>
    public MachineState Pause()
    {
        lock (_pauseGate)
        {
            if (StopRequested || _disposed)
            {
                return MachineState.Stopping;
            }

            Volatile.Write(ref _pauseRequested, 1);
            while (true)
            {
                if (StopRequested || _disposed)
                {
                    return MachineState.Stopping;
                }

                if (Volatile.Read(ref _pauseRequested) == 0)
                {
                    return MachineState.Running;
                }

                var inGuest = false;
                foreach (var runner in _runners.Where(r => r.Active && !r.Parked))
                {
                    inGuest = true;
                    runner.Kick();
                }

                if (!inGuest)
                {
                    _paused = true;
                    return MachineState.Paused;
                }

                _ = Monitor.Wait(_pauseGate, PauseKickInterval);
            }
        }
    }

    /// <summary>
    /// Lets parked vCPUs enter the guest again. Idempotent; returns the state afterwards. Refused once a migration
    /// handed the VM over (it may run elsewhere now).
    /// </summary>
    public MachineState Resume()
    {
        lock (_pauseGate)
        {
            if (_handingOver || _migratedAway)
            {
                throw new InvalidOperationException(_migratedAway
                    ? "this VM was handed over to a migration destination: it runs there, so it is not resumed here"
                    : "this VM is being handed over to a migration destination: it resumes here only if that fails");
            }

            ReleaseDevicesFromHandover();

            Volatile.Write(ref _pauseRequested, 0);
            _paused = false;
            Monitor.PulseAll(_pauseGate);
            return StopRequested ? MachineState.Stopping : MachineState.Running;
        }
    }

    /// <summary>
    /// Holds every vCPU outside the guest for <paramref name="percent"/> % of each time slice (0 turns it off): a
    /// migration's auto-converge, for a guest that dirties memory faster than the link carries it.
    /// </summary>
    internal void SetThrottle(int percent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(percent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 99);
        lock (_pauseGate)
        {
            Volatile.Write(ref _throttlePercent, percent);
            if (percent == 0 || _disposed)
            {
                _throttleKicker?.Dispose();
                _throttleKicker = null;
            }
            else
            {
                // A vCPU that never exits would never see the throttle: each slice, it is made to.
                _throttleKicker ??= new Timer(_ => KickRunningVcpus(), null, VcpuRunner.ThrottleSlice, VcpuRunner.ThrottleSlice);
            }
        }
    }

    private void KickRunningVcpus()
    {
        lock (_pauseGate)
        {
            if (_disposed)
            {
                return;
            }

            foreach (var runner in _runners.Where(r => r.Active && !r.Parked))
            {
                runner.Kick();
            }
        }
    }

    void IVcpuHost.Park(VcpuRunner runner)
    {
        lock (_pauseGate)
        {
            runner.Parked = true;
            Monitor.PulseAll(_pauseGate);
            while (Volatile.Read(ref _pauseRequested) != 0 && !StopRequested)
            {
                _ = Monitor.Wait(_pauseGate);
            }

            runner.Parked = false;
        }
    }

    void IVcpuHost.Exited(VcpuRunner runner)
    {
        lock (_pauseGate)
        {
            runner.Active = false;
            runner.Parked = false;
            Monitor.PulseAll(_pauseGate);
        }
    }

    public void Dispose()
    {
        _inputStop.Cancel();
        lock (_inputGate)
        {
            _inputClosed = true;
        }

        lock (_pauseGate)
        {
            // A late Pause must not kick a vCPU whose kvm_run page is about to be unmapped.
            _disposed = true;
        }

        // A Dispose without Run's return (a caller giving up on it) still gets every vCPU out of the guest first.
        if (_runners.Any(r => r.ThreadAlive))
        {
            RequestStop(StopReason.Host("the VM was disposed"));
            _ = JoinVcpus(TeardownDeadline);
        }

        SetThrottle(0);

        // Device threads first: they touch guest memory until they are joined (or hold a lease past their deadline).
        _pci?.Dispose();
        _profiler?.Dispose();
        _pit?.Dispose();
        for (var i = 0; i < _vcpus.Count; i++)
        {
            // A vCPU thread that is still there would read its kvm_run page after the unmap: that vCPU is left to
            // the process's exit. Guest RAM needs no such care: the thread holds a lease on it.
            if (i >= _runners.Count || !_runners[i].ThreadAlive)
            {
                _vcpus[i].Dispose();
            }
        }

        _msiRouter.Dispose();
        _vm.Dispose();
        _kvm.Dispose();
        Memory.Dispose();
        _stopped.Dispose();
        _inputStop.Dispose();
    }

    public void EndOfInterrupt(byte vector) => IoApic.EndOfInterrupt(vector);

    /// <summary>The guest's command line: a Linux guest on an emulating host also gets the PVM workaround arguments.</summary>
    public static string CommandLineFor(VmConfig config, KernelImage kernel)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(kernel);
        return config.EmulationWorkarounds && kernel.IsLinux && HostVirtualization.Detect() == VirtualizationKind.PvmEmulation
            ? PvmKernelArguments.AppendTo(config.CommandLine)
            : config.CommandLine;
    }

    private void AddLegacyDevices()
    {
        Mmio.Register(IoApic.DefaultBase, IoApic.RangeLength, IoApic);
        _pit = new Pit8254(IoApic.Pin(TimerPin), Config.Clock);
        PortIo.Register(0x40, Pit8254.RangeLength, _pit);
        var portB = new SystemControlPortB(_pit);
        PortIo.Register(0x61, SystemControlPortB.RangeLength, portB);
        PortIo.Register(0x3F8, 8, Serial);
        var i8042 = new I8042Controller(() => RequestStop(StopReason.Reboot()));
        PortIo.Register(0x60, 1, i8042);
        PortIo.Register(0x64, 1, new BusWindow(i8042, I8042Controller.CommandPortOffset));
        var rtc = new CmosRtc(Config.Clock);
        PortIo.Register(0x70, 2, rtc);
        PortIo.Register(0xF4, 4, new DebugExitPort(status => RequestStop(StopReason.GuestExit(status))));
        var acpi = new AcpiPmDevice(
            powerOff: () => RequestStop(StopReason.PowerOff()),
            reset: () => RequestStop(StopReason.Reboot()));
        PortIo.Register(AcpiPmRegisters.PortBase, AcpiPmRegisters.RangeLength, acpi);

        // In restore order: the I/O APIC first, as the UART drives its line and the PIT may fire while they are
        // restored; the PIT last, so its first tick meets every other device as saved.
        _deviceStates.AddRange([IoApic, Serial, rtc, i8042, portB, acpi, _pit]);
    }

    /// <summary>Where the machine's messages for the operator go: the config's log, else stderr.</summary>
    private Action<string> Log => Config.Log ?? (message => Console.Error.WriteLine($"sharpvisor: {message}"));

    private void AddPciDevices(bool lockDisks = true)
    {
        _pci = PciDevices.Create(Config, PortIo, Mmio, Memory, _msiRouter, IoApic.Pin, new KvmDoorbellRegistry(_vm), Log, lockDisks);
        _deviceStates.AddRange(_pci.States);
    }

    /// <summary>vCPU <paramref name="id"/> with its CPUID set, added to the machine but not yet to a runner.</summary>
    private KvmVcpu CreateVcpu(CpuidEntry[] supportedCpuid, int id)
    {
        var vcpu = _vm.CreateVcpu((uint)id);
        _vcpus.Add(vcpu);
        var cpuid = CpuidTable.ForVcpu(supportedCpuid, Config.Cpus, id).Select(ToKvmCpuidEntry).ToArray();
        vcpu.SetCpuid(cpuid);
        _cpuid.Add(cpuid);
        return vcpu;
    }

    private void AddRunner(KvmVcpu vcpu) => _runners.Add(new VcpuRunner(vcpu, PortIo, Mmio, Memory, this, EmulationAssist, _profiler));

    private void CreateVcpus(CpuidEntry[] supportedCpuid, BootEntry entry)
    {
        for (var id = 0; id < Config.Cpus; id++)
        {
            var vcpu = CreateVcpu(supportedCpuid, id);
            var msrs = BootMsrs.Entries();
            if (vcpu.SetMsrs(msrs) != msrs.Length)
            {
                throw new KvmException($"KVM refused some of the boot MSRs on vCPU {id}", 0);
            }

            vcpu.SetLapic(LocalApicSetup.Configure(vcpu.GetLapic()));
            vcpu.SetFpu(VcpuBootState.InitialFpu());
            if (id == 0)
            {
                vcpu.SetSregs(entry.SegmentRegisters(vcpu.GetSregs()));
                vcpu.SetRegs(entry.Registers);
            }

            AddRunner(vcpu);
        }
    }

    private static kvm_cpuid_entry2 ToKvmCpuidEntry(CpuidEntry e) => new()
    {
        function = e.Function,
        index = e.Index,
        flags = e.Flags,
        eax = e.Eax,
        ebx = e.Ebx,
        ecx = e.Ecx,
        edx = e.Edx,
    };
}
