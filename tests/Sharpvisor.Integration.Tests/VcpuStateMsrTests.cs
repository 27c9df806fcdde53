using Sharpvisor.Kvm;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Integration.Tests;

/// <summary>A vCPU's MSRs as a snapshot reads them from the real /dev/kvm, in calls under KVM's limit of 255 entries.</summary>
public sealed class VcpuStateMsrTests
{
    [KvmFact]
    public void MoreMsrsThanOneCallTakesAreReadWholeAcrossTheCalls()
    {
        using var kvm = KvmSystem.Open();
        using var vm = kvm.CreateVm();
        vm.CreateSplitIrqchip(24); // the local APIC in the kernel, as a machine has it
        using var vcpu = vm.CreateVcpu(0);
        // 600 entries, every one readable (the TSC): three calls, and not one entry lost where a call ends.
        const uint MsrIa32Tsc = 0x10;
        var support = VcpuStateSupport.Probe(kvm, vm) with { MsrIndexes = [.. Enumerable.Repeat(MsrIa32Tsc, 600)] };

        var state = VcpuState.Capture(vcpu, support, []);

        Assert.Equal(600, state.Msrs.Length);
        Assert.All(state.Msrs, msr => Assert.Equal(MsrIa32Tsc, msr.index));
    }
}
