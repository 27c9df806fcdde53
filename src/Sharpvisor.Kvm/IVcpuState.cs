using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>The vCPU state calls that instruction-level helpers need; a test double can stand in for KVM.</summary>
public interface IVcpuState
{
    kvm_regs GetRegs();

    void SetRegs(kvm_regs regs);

    kvm_sregs GetSregs();

    kvm_vcpu_events GetVcpuEvents();

    void SetVcpuEvents(kvm_vcpu_events events);

    /// <summary>Guest linear to physical through the guest's page tables; null when not mapped.</summary>
    ulong? Translate(ulong linearAddress);
}
