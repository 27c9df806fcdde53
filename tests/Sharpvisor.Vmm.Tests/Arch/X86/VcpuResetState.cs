using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

/// <summary>Roughly what KVM_GET_SREGS returns for a vCPU fresh from reset: the start of every boot state.</summary>
internal static class VcpuResetState
{
    public static kvm_sregs Sregs()
    {
        var realMode = new kvm_segment { @base = 0, limit = 0xFFFF, selector = 0, type = 3, present = 1, s = 1 };
        return new kvm_sregs
        {
            cs = realMode with { @base = 0xFFFF_0000, selector = 0xF000, type = 0xB },
            ds = realMode,
            es = realMode,
            fs = realMode,
            gs = realMode,
            ss = realMode,
            tr = new kvm_segment { limit = 0xFFFF, type = 0xB, present = 1 },
            ldt = new kvm_segment { limit = 0xFFFF, type = 2, present = 1 },
            gdt = new kvm_dtable { limit = 0xFFFF },
            idt = new kvm_dtable { limit = 0xFFFF },
            cr0 = 0x6000_0010, // CD | NW | ET
            apic_base = 0xFEE0_0900,
        };
    }
}
