using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Tests;

/// <summary>
/// A one-vCPU VM with no irqchip and 16 KiB of RAM at address 0, running a few bytes of real-mode code at
/// 0x1000. Small enough to exercise the KVM binding itself: exits, data write-back, kicks.
/// </summary>
internal sealed class RealModeVm : IDisposable
{
    public const ulong RamSize = 0x4000;
    public const ulong CodeAddress = 0x1000;

    private readonly KvmSystem _kvm;

    public RealModeVm(params byte[] code)
    {
        _kvm = KvmSystem.Open();
        Vm = _kvm.CreateVm();
        Ram = HostMemoryMapping.CreateAnonymous(RamSize);
        Vm.SetUserMemoryRegion(0, 0, RamSize, Ram.Address);
        Marshal.Copy(code, 0, Ram.Address + (nint)CodeAddress, code.Length);
        Vcpu = Vm.CreateVcpu(0);
        var sregs = Vcpu.GetSregs();
        sregs.cs.@base = 0;
        sregs.cs.selector = 0;
        Vcpu.SetSregs(sregs);
        Vcpu.SetRegs(new kvm_regs { rip = CodeAddress, rflags = 2 });
    }

    public KvmVm Vm { get; }

    public KvmVcpu Vcpu { get; }

    public HostMemoryMapping Ram { get; }

    /// <summary>Runs until the next exit that is not a signal interruption and returns its reason.</summary>
    public VcpuExitReason RunToExit()
    {
        while (!Vcpu.Run())
        {
        }

        return Vcpu.Exit.Reason;
    }

    public void Dispose()
    {
        Vcpu.Dispose();
        Vm.Dispose();
        Ram.Dispose();
        _kvm.Dispose();
    }
}
