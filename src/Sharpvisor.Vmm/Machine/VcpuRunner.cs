using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86.Emulation;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// One vCPU's thread: KVM_RUN in a loop, each exit turned into one bus dispatch or a stop request.
/// The only exits that reach here with an in-kernel irqchip are I/O the VMM emulates and failures.
/// </summary>
internal sealed class VcpuRunner
{
    private const uint KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    private const uint KVM_SYSTEM_EVENT_RESET = 2;
    private const uint KVM_SYSTEM_EVENT_CRASH = 3;
    private const uint KVM_INTERNAL_ERROR_EMULATION = 1;

    private readonly KvmVcpu _vcpu;
    private readonly IoBus _pio;
    private readonly IoBus _mmio;
    private readonly GuestMemory _memory;
    /// <summary>The time slice of auto-converge's throttle (QEMU's is 10 ms too).</summary>
    internal static readonly TimeSpan ThrottleSlice = TimeSpan.FromMilliseconds(10);

    private readonly IVcpuHost _host;
    private readonly EmulationAssist? _assist;
    private readonly GuestRipProfiler? _profiler;
    private readonly long[] _exitCounts = new long[64];
    private nuint _threadId;
    private int _sampleRequested;

    public VcpuRunner(
        KvmVcpu vcpu, IoBus pio, IoBus mmio, GuestMemory memory, IVcpuHost host, EmulationAssist? assist, GuestRipProfiler? profiler = null)
    {
        _assist = assist;
        _profiler = profiler;
        _vcpu = vcpu;
        _pio = pio;
        _mmio = mmio;
        _memory = memory;
        _host = host;
    }

    public uint Id => _vcpu.Id;

    public Thread? Thread { get; private set; }

    /// <summary>Between <see cref="Start"/> and the end of its thread: it may be in the guest unless parked. Guarded by the machine's pause gate.</summary>
    internal bool Active { get; set; }

    /// <summary>Waiting on the machine's pause gate, outside KVM_RUN. Guarded by the machine's pause gate.</summary>
    internal bool Parked { get; set; }

    /// <summary>Exits seen so far, by KVM exit reason number (for metrics).</summary>
    public long ExitCount(VcpuExitReason reason) => Interlocked.Read(ref _exitCounts[(int)reason & 63]);

    public long TotalExits => _exitCounts.Sum();

    /// <summary>Starts the vCPU thread; the caller holds the machine's pause gate and sets <see cref="Active"/>.</summary>
    public void Start()
    {
        // Taken here, not on the thread, so RAM cannot go between Start and the thread's first instruction.
        var lease = _memory.Lease();
        Thread = new Thread(() => Loop(lease)) { Name = $"vcpu{_vcpu.Id}", IsBackground = true };
        try
        {
            Thread.Start();
        }
        catch
        {
            lease.Dispose();
            Thread = null;
            throw;
        }
    }

    /// <summary>True while the vCPU thread runs (it may be in KVM_RUN or touching guest memory).</summary>
    public bool ThreadAlive => Thread is { IsAlive: true };

    /// <summary>Exit counts so far by reason, only the reasons seen (for metrics).</summary>
    public IReadOnlyDictionary<VcpuExitReason, long> ExitCounts()
    {
        var counts = new Dictionary<VcpuExitReason, long>();
        for (var i = 0; i < _exitCounts.Length; i++)
        {
            var count = Interlocked.Read(ref _exitCounts[i]);
            if (count != 0)
            {
                counts[(VcpuExitReason)i] = count;
            }
        }

        return counts;
    }

    /// <summary>Makes KVM_RUN return now (or at once when next entered). Safe from any thread.</summary>
    public void Kick()
    {
        _vcpu.RequestImmediateExit();
        var thread = Volatile.Read(ref _threadId);
        // A vCPU stopping the machine from its own exit handler is not in KVM_RUN: the flag is enough, and
        // skipping the signal spares the runtime from starting thread-pool workers for its handler.
        if (thread != 0 && Thread.CurrentThread != Thread)
        {
            VcpuThreadSignal.Kick(thread);
        }
    }

    /// <summary>Asks the vCPU thread to leave KVM_RUN, record its RIP with the profiler, and go on.</summary>
    public void RequestSample()
    {
        Volatile.Write(ref _sampleRequested, 1);
        Kick();
    }

    private void Loop(GuestMemory.MemoryLease lease)
    {
        Volatile.Write(ref _threadId, VcpuThreadSignal.CurrentThread());
        try
        {
            while (!_host.StopRequested)
            {
                if (_host.PauseRequested)
                {
                    CompletePendingExit();
                    // A kick that brought us here may have left immediate_exit set; the park is a full fence,
                    // and the loop condition then sees a stop that came in the meantime.
                    _vcpu.RequestImmediateExit(false);
                    _host.Park(this);
                    continue;
                }

                if (!_vcpu.Run())
                {
                    // Interrupted by a kick: a stop, a pause or a profiler sample. Every kicker sets its flag before
                    // it sets immediate_exit, so after clearing immediate_exit and a full fence the loop condition
                    // sees the flag of any kick that came before the clear; a kick that comes after it leaves
                    // immediate_exit set, which costs one more empty KVM_RUN. Leaving the flag set would spin.
                    _vcpu.RequestImmediateExit(false);
                    Interlocked.MemoryBarrier();
                    if (Interlocked.Exchange(ref _sampleRequested, 0) != 0 && _profiler is not null)
                    {
                        _profiler.Record(_vcpu.Id, _vcpu.GetRegs().rip);
                    }

                    if (_host.ThrottlePercent is var throttle and > 0 && !_host.PauseRequested)
                    {
                        // QEMU's cpu-throttle arithmetic: p % of the time asleep is p / (100 - p) slices per slice run.
                        Thread.Sleep(ThrottleSlice * throttle / (100 - throttle));
                        // The throttle's own kicks during the sleep must not keep the vCPU out for good; a stop or a
                        // pause kicked meanwhile set its flag first, which the loop condition sees after this fence.
                        _vcpu.RequestImmediateExit(false);
                        Interlocked.MemoryBarrier();
                    }

                    continue;
                }

                var reason = _vcpu.Exit.Reason;
                Interlocked.Increment(ref _exitCounts[(int)reason & 63]);
                HandleExit(reason);
            }
        }
        catch (Exception e) when (e is KvmException or GuestMemoryException or InvalidOperationException or ArgumentException)
        {
            _host.RequestStop(StopReason.Error($"vCPU {_vcpu.Id}: {e.Message}"));
        }
        finally
        {
            Volatile.Write(ref _threadId, 0);
            _host.Exited(this);
            lease.Dispose();
        }
    }

    /// <summary>
    /// KVM finishes an I/O or MMIO exit we handled (the value read lands in the guest's register) only when KVM_RUN is
    /// entered again, and keeps that pending part where no GET ioctl shows it: a snapshot taken while parked would lose
    /// it. An entry with immediate_exit set completes it and leaves before the guest runs another instruction. A string
    /// I/O instruction may need more exits to complete: they are handled like any other, and each is the guest's
    /// progress through that one instruction, so the loop ends.
    /// </summary>
    private void CompletePendingExit()
    {
        _vcpu.RequestImmediateExit(true);
        while (!_host.StopRequested && _vcpu.Run())
        {
            var reason = _vcpu.Exit.Reason;
            Interlocked.Increment(ref _exitCounts[(int)reason & 63]);
            HandleExit(reason);
        }
    }

    private void HandleExit(VcpuExitReason reason)
    {
        var exit = _vcpu.Exit;
        switch (reason)
        {
            case VcpuExitReason.Io:
                DispatchIo(exit);
                break;
            case VcpuExitReason.Mmio:
                if (exit.MmioIsWrite)
                {
                    _mmio.Write(exit.MmioAddress, exit.MmioData);
                }
                else
                {
                    _mmio.Read(exit.MmioAddress, exit.MmioData);
                }

                break;
            case VcpuExitReason.Intr:
                break;
            case VcpuExitReason.IoapicEoi:
                _host.EndOfInterrupt(exit.EoiVector);
                break;
            case VcpuExitReason.Hlt:
                // Only without an in-kernel LAPIC; nothing can wake this vCPU again.
                _host.RequestStop(StopReason.Crash(Diagnose("halted (KVM_EXIT_HLT) with no way to wake up")));
                break;
            case VcpuExitReason.Shutdown:
                _host.RequestStop(StopReason.Crash(Diagnose("triple fault (KVM_EXIT_SHUTDOWN)")));
                break;
            case VcpuExitReason.FailEntry:
                _host.RequestStop(StopReason.Crash(Diagnose(
                    $"KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x{exit.FailEntry.hardware_entry_failure_reason:x})")));
                break;
            case VcpuExitReason.InternalError:
                HandleInternalError(exit);
                break;
            case VcpuExitReason.SystemEvent:
                _host.RequestStop(exit.SystemEventType switch
                {
                    KVM_SYSTEM_EVENT_SHUTDOWN => StopReason.PowerOff(),
                    KVM_SYSTEM_EVENT_RESET => StopReason.Reboot(),
                    KVM_SYSTEM_EVENT_CRASH => StopReason.Crash(Diagnose("guest reported a crash (KVM_SYSTEM_EVENT_CRASH)")),
                    var other => StopReason.Crash(Diagnose($"unknown system event {other}")),
                });
                break;
            default:
                _host.RequestStop(StopReason.Crash(Diagnose($"unexpected exit {reason} ({(uint)reason})")));
                break;
        }
    }

    private void HandleInternalError(VcpuExit exit)
    {
        if (exit.InternalSuberror != KVM_INTERNAL_ERROR_EMULATION || _assist is null)
        {
            _host.RequestStop(StopReason.Crash(Diagnose(DescribeInternalError(exit))));
            return;
        }

        var outcome = _assist.TryComplete(_vcpu, _memory);
        if (!outcome.Completed)
        {
            _host.RequestStop(StopReason.Crash(Diagnose($"{DescribeInternalError(exit)}\n  {outcome.Description}")));
        }
    }

    private void DispatchIo(VcpuExit exit)
    {
        var io = exit.Io;
        var data = exit.IoData;
        int size = io.size;
        for (var offset = 0; offset + size <= data.Length; offset += size)
        {
            var slice = data.Slice(offset, size);
            if (io.direction == kvm_run_io.KVM_EXIT_IO_OUT)
            {
                _pio.Write(io.port, slice);
            }
            else
            {
                _pio.Read(io.port, slice);
            }
        }
    }

    private static string DescribeInternalError(VcpuExit exit)
    {
        var suberror = exit.InternalSuberror;
        var what = suberror switch
        {
            1 => "emulation failure: KVM's instruction emulator cannot execute the instruction at rip",
            2 => "simultaneous exceptions",
            3 => "delivery event failed",
            4 => "unexpected exit during event delivery",
            _ => "internal error",
        };
        var data = exit.InternalData;
        var extra = data.Length == 0 ? "" : " data=[" + string.Join(' ', data.Select(d => $"0x{d:x}")) + "]";
        return $"KVM_EXIT_INTERNAL_ERROR suberror {suberror} ({what}){extra}";
    }

    private string Diagnose(string headline) => ExitDiagnostic.Describe(_vcpu, _memory, headline);
}

/// <summary>What a vCPU thread needs from its machine: the shared stop flag and a way to stop everything.</summary>
internal interface IVcpuHost
{
    bool StopRequested { get; }

    /// <summary>Set while the machine is paused: the vCPU calls <see cref="Park"/> instead of entering the guest.</summary>
    bool PauseRequested { get; }

    /// <summary>
    /// While a migration's auto-converge holds the guest back: the share of time (0 to 99 %) each vCPU spends outside
    /// the guest. The machine kicks the vCPUs every time slice, and each kicked vCPU sleeps its share.
    /// </summary>
    int ThrottlePercent { get; }

    void RequestStop(StopReason reason);

    /// <summary>Blocks the calling vCPU thread until the machine resumes or stops.</summary>
    void Park(VcpuRunner runner);

    /// <summary>The vCPU's thread is leaving its loop for good.</summary>
    void Exited(VcpuRunner runner);

    /// <summary>A level-triggered vector was acknowledged (split irqchip): the user-space I/O APIC decides what next.</summary>
    void EndOfInterrupt(byte vector);
}
