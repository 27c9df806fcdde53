using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Linux;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Devices.Legacy;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// One running VM: KVM objects, guest RAM, the PC devices, and one thread per vCPU. Built complete by
/// <see cref="Create"/>; <see cref="Run"/> blocks until the first stop reason, then every vCPU is kicked out
/// of KVM_RUN and joined before the result is returned.
/// </summary>
public sealed class Machine : IVcpuHost, IDisposable
{
    // Three pages KVM uses for real-mode emulation on Intel, and one for its identity map: both in the MMIO
    // hole just below the IOAPIC/LAPIC pages, where they cannot collide with RAM.
    private const ulong TssAddress = 0xFFFB_D000;
    private const ulong IdentityMapAddress = 0xFFFB_C000;

    // ISA IRQ 4 (COM1) on I/O APIC pin 4; ISA IRQ 0 (PIT) on pin 2, the PC's usual interrupt source override.
    private const int SerialPin = 4;
    private const int TimerPin = 2;

    private readonly KvmSystem _kvm;
    private readonly KvmVm _vm;
    private readonly List<KvmVcpu> _vcpus = [];
    private readonly List<VcpuRunner> _runners = [];
    private readonly ManualResetEventSlim _stopped = new();
    private StopReason? _stopReason;
    private Pit8254? _pit;

    private Machine(VmConfig config, KvmSystem kvm, KvmVm vm, GuestMemory memory)
    {
        Config = config;
        _kvm = kvm;
        _vm = vm;
        Memory = memory;
        PortIo = new IoBus("port I/O");
        Mmio = new IoBus("MMIO");
        IoApic = new IoApic(new KvmMsiSink(vm));
        Serial = new Uart16550(IoApic.Pin(SerialPin), config.SerialOutput);
    }

    public VmConfig Config { get; }

    public GuestMemory Memory { get; }

    public IoBus PortIo { get; }

    public IoBus Mmio { get; }

    public Uart16550 Serial { get; }

    public IoApic IoApic { get; }

    public bool StopRequested => Volatile.Read(ref _stopReason) is not null;

    public long TotalExits => _runners.Sum(r => r.TotalExits);

    /// <summary>Builds the VM: memory, irqchip, PIT, devices, the kernel in RAM and every vCPU's boot state.</summary>
    public static Machine Create(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var kvm = KvmSystem.Open(config.KvmPath);
        KvmVm? vm = null;
        GuestMemory? memory = null;
        try
        {
            var supportedCpuid = kvm.GetSupportedCpuid().Select(ToCpuidEntry).ToArray();
            var layout = HostLimits.CheckAndLayOut(config, kvm, supportedCpuid);
            var kernelImage = ParseKernel(config);

            vm = kvm.CreateVm();
            vm.SetTssAddress(TssAddress);
            vm.SetIdentityMapAddress(IdentityMapAddress);
            // Only the local APICs live in the kernel; the I/O APIC and PIT are ours. Creating and tearing
            // down KVM's in-kernel PIC/IOAPIC/PIT costs tens of milliseconds per VM (docs/benchmarks.md).
            vm.CreateSplitIrqchip(IoApic.PinCount);

            memory = GuestMemory.Create(layout.RamRanges);
            for (var slot = 0; slot < memory.Regions.Count; slot++)
            {
                var region = memory.Regions[slot];
                vm.SetUserMemoryRegion((uint)slot, region.Start.Value, region.Size, region.Mapping.Address);
            }

            var machine = new Machine(config, kvm, vm, memory);
            try
            {
                machine.AddLegacyDevices();
                var entry = machine.LoadKernel(kernelImage, layout);
                machine.CreateVcpus(supportedCpuid, entry);
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
        foreach (var runner in _runners)
        {
            runner.Start();
        }

        _stopped.Wait(CancellationToken.None);
        foreach (var runner in _runners)
        {
            // Kick until it leaves: a signal that lands just before KVM_RUN is covered by immediate_exit.
            while (runner.Thread is { } thread && !thread.Join(TimeSpan.FromMilliseconds(50)))
            {
                runner.Kick();
            }
        }

        Serial.Flush();
        return _stopReason!;
    }

    /// <summary>Records the first stop reason and kicks every vCPU out of the guest. Later reasons are ignored.</summary>
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

        _stopped.Set();
    }

    public void Dispose()
    {
        _pit?.Dispose();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Dispose();
        }

        _vm.Dispose();
        _kvm.Dispose();
        Memory.Dispose();
        _stopped.Dispose();
    }

    public void EndOfInterrupt(byte vector) => IoApic.EndOfInterrupt(vector);

    private void AddLegacyDevices()
    {
        Mmio.Register(IoApic.DefaultBase, IoApic.RangeLength, IoApic);
        _pit = new Pit8254(IoApic.Pin(TimerPin), Config.Clock);
        PortIo.Register(0x40, Pit8254.RangeLength, _pit);
        PortIo.Register(0x61, SystemControlPortB.RangeLength, new SystemControlPortB(_pit));
        PortIo.Register(0x3F8, 8, Serial);
        var i8042 = new I8042Controller(() => RequestStop(StopReason.Reboot()));
        PortIo.Register(0x60, 1, i8042);
        PortIo.Register(0x64, 1, new BusWindow(i8042, I8042Controller.CommandPortOffset));
        PortIo.Register(0x70, 2, new CmosRtc(Config.Clock));
        PortIo.Register(0xF4, 4, new DebugExitPort(status => RequestStop(StopReason.GuestExit(status))));
    }

    /// <summary>A PVH ELF when the file starts with the ELF magic, otherwise a bzImage (whose parser names both on failure).</summary>
    private static object ParseKernel(VmConfig config) =>
        config.Kernel.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x7F, (byte)'E', (byte)'L', (byte)'F'])
            ? ElfImage.Parse(config.Kernel, config.KernelDescription)
            : BzImage.Parse(config.Kernel, config.KernelDescription);

    private GuestAddress LoadKernel(object kernelImage, MemoryLayout layout) => kernelImage switch
    {
        ElfImage elf => LoadPvhKernel(elf, layout),
        BzImage bzImage => LoadBzImage(bzImage, layout),
        _ => throw new ArgumentException("not a kernel image", nameof(kernelImage)),
    };

    private GuestAddress LoadBzImage(BzImage image, MemoryLayout layout)
    {
        var kernel = BzImageLoader.Load(image, Memory, layout);
        var gdt = VcpuBootState.LongModeGdt();
        for (var i = 0; i < gdt.Length; i++)
        {
            Memory.Write(MemoryLayout.BootGdt + (ulong)(i * 8), gdt[i]);
        }

        _pageTableRoot = IdentityPageTables.Write(Memory, MemoryLayout.PageTableArea);
        var bootParams = new BootParams { CommandLine = Config.CommandLine, Initrd = Config.Initrd ?? ReadOnlyMemory<byte>.Empty };
        _startInfoAddress = bootParams.WriteTo(Memory, layout, image, kernel);
        _linux64Entry = true;
        return kernel.Entry64;
    }

    private GuestAddress LoadPvhKernel(ElfImage elf, MemoryLayout layout)
    {
        var kernel = PvhLoader.Load(elf, Memory);
        var gdt = VcpuBootState.BootGdt();
        for (var i = 0; i < gdt.Length; i++)
        {
            Memory.Write(MemoryLayout.BootGdt + (ulong)(i * 8), gdt[i]);
        }

        var startInfo = new PvhStartInfo { CommandLine = Config.CommandLine, Initrd = Config.Initrd ?? ReadOnlyMemory<byte>.Empty };
        _startInfoAddress = startInfo.WriteTo(Memory, layout, kernel);
        return kernel.EntryPoint;
    }

    // The PVH start info, or for a bzImage the zero page.
    private GuestAddress _startInfoAddress;

    private bool _linux64Entry;

    private GuestAddress _pageTableRoot;

    private void CreateVcpus(CpuidEntry[] supportedCpuid, GuestAddress entry)
    {
        for (var id = 0; id < Config.Cpus; id++)
        {
            var vcpu = _vm.CreateVcpu((uint)id);
            _vcpus.Add(vcpu);
            var cpuid = CpuidTable.ForVcpu(supportedCpuid, Config.Cpus, id).Select(ToKvmCpuidEntry).ToArray();
            vcpu.SetCpuid(cpuid);
            var msrs = BootMsrs.Entries();
            if (vcpu.SetMsrs(msrs) != msrs.Length)
            {
                throw new KvmException($"KVM refused some of the boot MSRs on vCPU {id}", 0);
            }

            vcpu.SetLapic(LocalApicSetup.Configure(vcpu.GetLapic()));
            vcpu.SetFpu(VcpuBootState.InitialFpu());
            if (id == 0)
            {
                if (_linux64Entry)
                {
                    vcpu.SetSregs(VcpuBootState.ForLinux64Entry(vcpu.GetSregs(), MemoryLayout.BootGdt.Value, _pageTableRoot.Value));
                    vcpu.SetRegs(VcpuBootState.ForLinux64Entry(entry.Value, _startInfoAddress.Value));
                }
                else
                {
                    vcpu.SetSregs(VcpuBootState.ForPvhEntry(vcpu.GetSregs(), MemoryLayout.BootGdt.Value));
                    vcpu.SetRegs(VcpuBootState.ForPvhEntry(entry.Value, _startInfoAddress.Value));
                }
            }

            _runners.Add(new VcpuRunner(vcpu, PortIo, Mmio, Memory, this));
        }
    }

    private static CpuidEntry ToCpuidEntry(kvm_cpuid_entry2 e) => new(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx);

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
