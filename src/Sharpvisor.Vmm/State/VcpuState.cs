using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.State;

/// <summary>What this host's KVM can save of a vCPU beyond the registers every KVM has.</summary>
public sealed record VcpuStateSupport(bool Xsave, bool Xcrs, bool DebugRegs, uint[] MsrIndexes)
{
    public static VcpuStateSupport Probe(KvmSystem kvm, KvmVm vm)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        ArgumentNullException.ThrowIfNull(vm);
        // Feature MSRs KVM lists apart (ARCH_CAPABILITIES and the like) are part of the vCPU too where a vCPU has them.
        var msrs = kvm.GetMsrIndexList().Union(kvm.GetMsrFeatureIndexList()).ToArray();
        return new VcpuStateSupport(
            vm.CheckExtension(KvmCapability.Xsave) > 0,
            vm.CheckExtension(KvmCapability.Xcrs) > 0,
            vm.CheckExtension(KvmCapability.Debugregs) > 0,
            msrs);
    }
}

/// <summary>
/// Everything KVM keeps for one vCPU: registers, FPU/XSAVE, XCRs, debug registers, every MSR it can read, the local
/// APIC, pending events, MP state, and the CPUID the vCPU was given (compared on restore, not trusted).
/// </summary>
public sealed record VcpuState(
    uint Id,
    kvm_regs Regs,
    kvm_sregs Sregs,
    kvm_fpu Fpu,
    byte[]? Xsave,
    kvm_xcrs? Xcrs,
    kvm_debugregs? DebugRegs,
    kvm_msr_entry[] Msrs,
    kvm_lapic_state Lapic,
    kvm_vcpu_events Events,
    uint MpState,
    kvm_cpuid_entry2[] Cpuid)
{
    public const uint SectionVersion = 1;

    // Limits a reader applies before allocating: far above any real vCPU (KVM lists a few hundred MSRs, an XSAVE
    // area with AMX is 11 KiB, CPUID has under 100 leaves).
    private const int MaxMsrs = 4096;
    private const int MaxXsaveBytes = 1 << 20;
    private const int MaxCpuidEntries = 1024;

    // KVM_GET_MSRS and KVM_SET_MSRS refuse a call of 256 entries or more (MAX_IO_MSRS) with E2BIG.
    private const int MaxMsrsPerCall = 255;

    private const uint MSR_IA32_TSC = 0x10;
    private const uint MSR_IA32_TSC_DEADLINE = 0x6e0;

    /// <summary>Reads the vCPU's state; the vCPU must be out of KVM_RUN (paused).</summary>
    public static VcpuState Capture(KvmVcpu vcpu, VcpuStateSupport support, kvm_cpuid_entry2[] cpuid)
    {
        ArgumentNullException.ThrowIfNull(vcpu);
        ArgumentNullException.ThrowIfNull(support);
        return new VcpuState(
            vcpu.Id,
            vcpu.GetRegs(),
            vcpu.GetSregs(),
            vcpu.GetFpu(),
            support.Xsave ? vcpu.GetXsave() : null,
            support.Xcrs ? vcpu.GetXcrs() : null,
            support.DebugRegs ? vcpu.GetDebugRegs() : null,
            ReadMsrs(vcpu, support.MsrIndexes),
            vcpu.GetLapic(),
            vcpu.GetVcpuEvents(),
            vcpu.GetMpState(),
            cpuid);
    }

    /// <summary>
    /// Puts the state into a vCPU that was given the same CPUID. The order matters: the special registers (with the
    /// APIC base) before the local APIC, the local APIC (its timer mode) before the TSC-deadline MSR, which KVM
    /// ignores unless the timer is in TSC-deadline mode; the TSC itself before that deadline.
    /// </summary>
    public void Restore(KvmVcpu vcpu)
    {
        ArgumentNullException.ThrowIfNull(vcpu);
        if (Xsave is { } saved && saved.Length != vcpu.Vm.XsaveSize)
        {
            throw new StateException($"vCPU {Id}: the saved XSAVE area has {saved.Length} bytes, this host's has {vcpu.Vm.XsaveSize}: its CPU or KVM differs");
        }

        vcpu.SetRegs(Regs);
        if (Xsave is { } area)
        {
            vcpu.SetXsave(area);
        }
        else
        {
            vcpu.SetFpu(Fpu);
        }

        if (Xcrs is { } xcrs)
        {
            vcpu.SetXcrs(xcrs);
        }

        vcpu.SetSregs(Sregs);
        vcpu.SetLapic(Lapic);
        WriteMsrs(vcpu);
        vcpu.SetMpState(MpState);
        vcpu.SetVcpuEvents(Events);
        if (DebugRegs is { } debug)
        {
            vcpu.SetDebugRegs(debug);
        }
    }

    public void WriteTo(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.U32(Id).Struct(Regs).Struct(Sregs).Struct(Fpu);
        payload.Bool(Xsave is not null).Bytes(Xsave ?? []);
        payload.Bool(Xcrs is not null).Struct(Xcrs ?? default);
        payload.Bool(DebugRegs is not null).Struct(DebugRegs ?? default);
        payload.Structs<kvm_msr_entry>(Msrs).Struct(Lapic).Struct(Events).U32(MpState).Structs<kvm_cpuid_entry2>(Cpuid);
    }

    public static VcpuState ReadFrom(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var r = section.Expect(SectionVersion).Reader();
        var id = r.U32();
        var regs = r.Struct<kvm_regs>();
        var sregs = r.Struct<kvm_sregs>();
        var fpu = r.Struct<kvm_fpu>();
        var hasXsave = r.Bool();
        var xsave = r.Bytes(MaxXsaveBytes).ToArray();
        var hasXcrs = r.Bool();
        var xcrs = r.Struct<kvm_xcrs>();
        var hasDebug = r.Bool();
        var debug = r.Struct<kvm_debugregs>();
        var msrs = r.Structs<kvm_msr_entry>(MaxMsrs);
        var lapic = r.Struct<kvm_lapic_state>();
        var events = r.Struct<kvm_vcpu_events>();
        var mpState = r.U32();
        var cpuid = r.Structs<kvm_cpuid_entry2>(MaxCpuidEntries);
        r.ExpectEnd();
        return new VcpuState(id, regs, sregs, fpu, hasXsave ? xsave : null, hasXcrs ? xcrs : null, hasDebug ? debug : null,
            msrs, lapic, events, mpState, cpuid);
    }

    /// <summary>
    /// Every listed MSR this vCPU can read. KVM_GET_MSRS stops at the first it cannot (a feature MSR of the other CPU
    /// vendor, say): that one is left out and the read goes on after it, so the loop ends within one pass per MSR.
    /// </summary>
    private static kvm_msr_entry[] ReadMsrs(KvmVcpu vcpu, uint[] indexes)
    {
        var pending = indexes.Select(index => new kvm_msr_entry { index = index }).ToArray().AsSpan();
        var read = new List<kvm_msr_entry>(pending.Length);
        while (!pending.IsEmpty)
        {
            var batch = pending[..Math.Min(pending.Length, MaxMsrsPerCall)];
            var count = Math.Clamp(vcpu.GetMsrs(batch), 0, batch.Length);
            read.AddRange(batch[..count]);
            // A call that stopped short stopped at an MSR it cannot read: that one is skipped, not the next batch's first.
            pending = pending[(count < batch.Length ? count + 1 : count)..];
        }

        return [.. read];
    }

    private void WriteMsrs(KvmVcpu vcpu)
    {
        // TSC first, the TSC deadline last (it is a point on the guest's TSC); the rest in the order they were read.
        var ordered = Msrs.OrderBy(m => m.index switch { MSR_IA32_TSC => 0, MSR_IA32_TSC_DEADLINE => 2, _ => 1 }).ToArray();
        for (var done = 0; done < ordered.Length;)
        {
            var batch = ordered.AsSpan(done, Math.Min(ordered.Length - done, MaxMsrsPerCall));
            var written = vcpu.SetMsrs(batch);
            if (written != batch.Length)
            {
                throw new StateException($"KVM refused MSR 0x{batch[written].index:x} of vCPU {Id}: this host cannot take the state another host saved");
            }

            done += written;
        }
    }

    /// <summary>The CPUID the restored vCPU is given must be the one the guest saw: features cannot change under a running guest.</summary>
    public void CheckCpuid(ReadOnlySpan<kvm_cpuid_entry2> current)
    {
        var saved = Cpuid;
        for (var i = 0; i < Math.Max(saved.Length, current.Length); i++)
        {
            if (i >= saved.Length || i >= current.Length || !SameLeaf(saved[i], current[i]))
            {
                var leaf = i < saved.Length ? saved[i] : current[i];
                throw new StateException($"vCPU {Id}: CPUID leaf 0x{leaf.function:x} index {leaf.index} differs from the saved VM's: this host's CPU or KVM offers other features");
            }
        }
    }

    private static bool SameLeaf(kvm_cpuid_entry2 a, kvm_cpuid_entry2 b) =>
        a.function == b.function && a.index == b.index && a.flags == b.flags && a.eax == b.eax && a.ebx == b.ebx && a.ecx == b.ecx && a.edx == b.edx;
}
