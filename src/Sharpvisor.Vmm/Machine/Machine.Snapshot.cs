using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// The machine's state as sections (<see cref="StateFormat"/>): taken while paused, for a snapshot file or the last
/// step of a migration, and put into a machine being built from either.
/// </summary>
public sealed partial class Machine
{
    private const string MachineSection = "MACH";
    private const string VcpuSection = "CPU ";
    private const uint MachineSectionVersion = 1;

    // How long a device may take to finish the requests it took before a snapshot or a migration gives up on it.
    private static readonly TimeSpan DeviceQuiesceDeadline = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Writes the paused machine to <paramref name="path"/> (<see cref="SnapshotFile"/>) and returns the bytes of RAM
    /// written. The vCPUs stay parked until it returns: a Resume or a stop waits for the save to end.
    /// </summary>
    public long SaveSnapshot(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        lock (_pauseGate)
        {
            RequirePausedForState();
            QuiesceDevices();
            try
            {
                var writeState = CaptureState();
                return SnapshotFile.Write(path, writeState, Memory);
            }
            finally
            {
                // After a failed hand-over the devices wait for the Resume that takes the disks' locks back.
                if (!_devicesHeldForHandover)
                {
                    _pci?.Unquiesce();
                }
            }
        }
    }

    /// <summary>
    /// A machine in the state <paramref name="path"/> holds, ready to <see cref="Run"/>: RAM mapped from the file
    /// (copy-on-write; the file must not change while the VM runs), vCPUs and clock as saved, the guest's time moved on
    /// by the wall time since the save. <paramref name="config"/> must describe the same VM (vCPUs, memory).
    /// </summary>
    public static Machine Restore(VmConfig config, string path)
    {
        ArgumentNullException.ThrowIfNull(config);
        HostLimits.CheckWithoutHost(config);
        using var image = SnapshotFile.OpenRestore(path);
        var saved = SavedMachine.Read(image.Sections, config);
        return Build(config, layout => image.MapMemory(layout.RamRanges), (machine, supportedCpuid, _) =>
        {
            machine.AddPciDevicesForRestore();
            machine.Apply(saved, supportedCpuid);
            machine._pci?.Unquiesce(); // restored quiesced; a snapshot's VM goes on at once
        });
    }

    /// <summary>
    /// Reads every vCPU and the clock now (the caller holds the pause gate with the machine paused) and returns what
    /// writes them as sections.
    /// </summary>
    private Action<StateWriter> CaptureState()
    {
        RequirePausedForState();
        var support = VcpuStateSupport.Probe(_kvm, _vm);
        var vcpus = _vcpus.Select((vcpu, i) => VcpuState.Capture(vcpu, support, _cpuid[i])).ToArray();
        var clock = _vm.GetClock();
        var realtime = RealtimeNanoseconds();
        var devices = _deviceStates.Select(device =>
        {
            var payload = new StatePayload();
            device.SaveState(payload);
            return (device.StateTag, device.StateVersion, payload);
        }).ToArray();
        return writer =>
        {
            writer.Section(MachineSection, MachineSectionVersion, new StatePayload()
                .U32((uint)Config.Cpus).U64(Config.MemoryBytes).Struct(clock).U64(realtime));
            foreach (var vcpu in vcpus)
            {
                var payload = new StatePayload();
                vcpu.WriteTo(payload);
                writer.Section(VcpuSection, VcpuState.SectionVersion, payload);
            }

            foreach (var (tag, version, payload) in devices)
            {
                writer.Section(tag, version, payload);
            }
        };
    }

    private void RequirePausedForState()
    {
        if (!_paused || StopRequested || _disposed)
        {
            throw new InvalidOperationException("a snapshot is taken of a paused VM: pause it first");
        }
    }

    /// <summary>
    /// Lets the virtio devices finish the requests they took (used entries, interrupts and the data in guest RAM)
    /// and hold the rest in their rings. Before anything is captured: an interrupt a completion raises must be in the
    /// local APIC state that is saved.
    /// </summary>
    private void QuiesceDevices() => _pci?.Quiesce(DeviceQuiesceDeadline);

    /// <summary>
    /// The PCI functions of a VM being restored, built quiesced: they serve nothing until the restore is whole. A
    /// migration's destination opens its disks unlocked (<paramref name="lockDisks"/> false): the source holds them.
    /// </summary>
    private void AddPciDevicesForRestore(bool lockDisks = true)
    {
        if (Config.HasPciDevices)
        {
            AddPciDevices(lockDisks);
            _pci!.Quiesce(DeviceQuiesceDeadline);
        }
    }

    /// <summary>
    /// Creates the vCPUs with the saved state (their CPUID checked against this host's), then restores the devices
    /// (an interrupt one raises while restored lands in a local APIC already as saved), then sets the clock. Every
    /// device this VM has needs its section, and every section needs its device.
    /// </summary>
    private void Apply(SavedMachine saved, CpuidEntry[] supportedCpuid)
    {
        var unclaimed = saved.DeviceSections.ToList();
        var sections = _deviceStates.Select(device =>
        {
            var section = unclaimed.Find(s => s.Name == device.StateTag)
                ?? throw new StateException($"the saved VM has no {device.StateTag.Trim()} section for this VM's device");
            unclaimed.Remove(section);
            return section;
        }).ToArray();
        if (unclaimed.Count > 0)
        {
            throw new StateException($"the saved VM has sections this VM has no device for: {string.Join(", ", unclaimed.Select(s => s.Name))}");
        }

        foreach (var state in saved.Vcpus)
        {
            var vcpu = CreateVcpu(supportedCpuid, (int)state.Id);
            state.CheckCpuid(_cpuid[^1]);
            state.Restore(vcpu);
            AddRunner(vcpu);
        }

        for (var i = 0; i < sections.Length; i++)
        {
            _deviceStates[i].RestoreState(sections[i]);
        }

        foreach (var change in _pci?.BackendChanges() ?? [])
        {
            Log(change);
        }

        _vm.SetClock(ClockAfterRestore(saved.Clock, saved.Realtime));
    }

    private static ulong RealtimeNanoseconds() => (ulong)(DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>
    /// The saved kvmclock, moved on by the wall time since the save: by KVM where it gave its realtime (it adds the
    /// difference at the instant of the call), else by us from our own record. Never moved back.
    /// </summary>
    private static kvm_clock_data ClockAfterRestore(kvm_clock_data saved, ulong savedRealtimeNs)
    {
        const uint KVM_CLOCK_REALTIME = 1 << 2;
        var restored = new kvm_clock_data { clock = saved.clock, realtime = saved.realtime, flags = saved.flags & KVM_CLOCK_REALTIME };
        if (restored.flags == 0)
        {
            var now = RealtimeNanoseconds();
            restored.clock += now > savedRealtimeNs ? now - savedRealtimeNs : 0;
        }

        return restored;
    }

    /// <summary>The machine-wide sections read and checked against the VM being built.</summary>
    private sealed record SavedMachine(kvm_clock_data Clock, ulong Realtime, VcpuState[] Vcpus, StateSection[] DeviceSections)
    {
        public static SavedMachine Read(IEnumerable<StateSection> sections, VmConfig config)
        {
            var all = sections.ToArray();
            var machine = all.Where(s => s.Name == MachineSection).ToArray();
            if (machine.Length != 1)
            {
                throw new StateException($"the state has {machine.Length} MACH sections, not one");
            }

            var header = machine[0].Expect(MachineSectionVersion).Reader();
            var cpus = header.U32();
            var memoryBytes = header.U64();
            var clock = header.Struct<kvm_clock_data>();
            var realtime = header.U64();
            header.ExpectEnd();
            if (cpus != config.Cpus || memoryBytes != config.MemoryBytes)
            {
                throw new StateException($"the snapshot is of a VM with {cpus} vCPUs and {memoryBytes >> 20} MiB, not {config.Cpus} and {config.MemoryBytes >> 20} MiB");
            }


            var vcpus = all.Where(s => s.Name == VcpuSection).Select(VcpuState.ReadFrom).OrderBy(v => v.Id).ToArray();
            if (!vcpus.Select(v => v.Id).SequenceEqual(Enumerable.Range(0, config.Cpus).Select(i => (uint)i)))
            {
                throw new StateException($"the snapshot holds vCPUs {string.Join(",", vcpus.Select(v => v.Id))}, not 0 to {config.Cpus - 1}");
            }

            var devices = all.Where(s => s.Name is not (MachineSection or VcpuSection)).ToArray();
            return new SavedMachine(clock, realtime, vcpus, devices);
        }
    }
}
