using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Tests;

/// <summary>The KVM binding against the real /dev/kvm: exits, their data, register access and kicking a vCPU.</summary>
public sealed class VcpuTests
{
    [KvmFact]
    public void SystemReportsApiVersion12AndTheCapabilitiesTheVmmNeeds()
    {
        using var kvm = KvmSystem.Open();
        Assert.Equal(12, kvm.ApiVersion);
        Assert.True(kvm.VcpuMmapSize >= 4096);
        Assert.True(kvm.MaxVcpus >= 16);
        foreach (var cap in new[] { KvmCapability.UserMemory, KvmCapability.SplitIrqchip, KvmCapability.ImmediateExit, KvmCapability.SignalMsi })
        {
            Assert.True(kvm.CheckExtension(cap) > 0, $"{cap} missing");
        }

        var cpuid = kvm.GetSupportedCpuid();
        Assert.Contains(cpuid, e => e.function == 0);
        Assert.Contains(cpuid, e => e.function == 1);
    }

    [KvmFact]
    public void PortOutputExitCarriesPortSizeAndData()
    {
        // mov al, 0x42; out 0x10, al; hlt
        using var vm = new RealModeVm(0xB0, 0x42, 0xE6, 0x10, 0xF4);
        Assert.Equal(VcpuExitReason.Io, vm.RunToExit());
        var io = vm.Vcpu.Exit.Io;
        Assert.Equal(1, io.direction); // out
        Assert.Equal(0x10, io.port);
        Assert.Equal(1, io.size);
        Assert.Equal(new byte[] { 0x42 }, vm.Vcpu.Exit.IoData.ToArray());
        Assert.Equal(VcpuExitReason.Hlt, vm.RunToExit());
    }

    [KvmFact]
    public void PortInputDataWrittenIntoTheRunPageReachesTheGuest()
    {
        // in al, 0x20; out 0x11, al; hlt
        using var vm = new RealModeVm(0xE4, 0x20, 0xE6, 0x11, 0xF4);
        Assert.Equal(VcpuExitReason.Io, vm.RunToExit());
        Assert.Equal(0, vm.Vcpu.Exit.Io.direction); // in
        vm.Vcpu.Exit.IoData[0] = 0x99;
        Assert.Equal(VcpuExitReason.Io, vm.RunToExit());
        Assert.Equal(0x11, vm.Vcpu.Exit.Io.port);
        Assert.Equal(0x99, vm.Vcpu.Exit.IoData[0]);
    }

    [KvmFact]
    public void AccessOutsideRamIsAnMmioExitAndReadDataReachesTheGuest()
    {
        // mov byte [0x5000], 0x77; mov al, [0x5000]; out 0x12, al; hlt
        using var vm = new RealModeVm(0xC6, 0x06, 0x00, 0x50, 0x77, 0xA0, 0x00, 0x50, 0xE6, 0x12, 0xF4);
        Assert.Equal(VcpuExitReason.Mmio, vm.RunToExit());
        Assert.True(vm.Vcpu.Exit.MmioIsWrite);
        Assert.Equal(0x5000UL, vm.Vcpu.Exit.MmioAddress);
        Assert.Equal(new byte[] { 0x77 }, vm.Vcpu.Exit.MmioData.ToArray());

        Assert.Equal(VcpuExitReason.Mmio, vm.RunToExit());
        Assert.False(vm.Vcpu.Exit.MmioIsWrite);
        vm.Vcpu.Exit.MmioData[0] = 0x55;
        Assert.Equal(VcpuExitReason.Io, vm.RunToExit());
        Assert.Equal(0x55, vm.Vcpu.Exit.IoData[0]);
    }

    [KvmFact]
    public void GuestWritesLandInTheHostMapping()
    {
        // mov byte [0x2000], 0xA5; hlt
        using var vm = new RealModeVm(0xC6, 0x06, 0x00, 0x20, 0xA5, 0xF4);
        Assert.Equal(VcpuExitReason.Hlt, vm.RunToExit());
        Assert.Equal(0xA5, Marshal.ReadByte(vm.Ram.Address + 0x2000));
    }

    [KvmFact]
    public void RegistersRoundTripAndTranslateIsIdentityWithPagingOff()
    {
        using var vm = new RealModeVm(0xF4);
        var regs = vm.Vcpu.GetRegs();
        regs.rax = 0x1234_5678;
        regs.r15 = 0xDEAD_BEEF;
        vm.Vcpu.SetRegs(regs);
        var back = vm.Vcpu.GetRegs();
        Assert.Equal(0x1234_5678UL, back.rax);
        Assert.Equal(0xDEAD_BEEFUL, back.r15);
        Assert.Equal(0x3000UL, vm.Vcpu.Translate(0x3000));
        Assert.Equal(RealModeVm.CodeAddress, vm.Vcpu.GetRegs().rip);
    }

    [KvmFact]
    public void KickInterruptsAVcpuSpinningInTheGuest()
    {
        // jmp $ (spins forever without exiting)
        using var vm = new RealModeVm(0xEB, 0xFE);
        VcpuThreadSignal.EnsureInstalled();
        nuint thread = 0;
        var entered = new ManualResetEventSlim();
        var returned = new ManualResetEventSlim();
        bool? runResult = null;
        var runner = new Thread(() =>
        {
            Volatile.Write(ref thread, VcpuThreadSignal.CurrentThread());
            entered.Set();
            runResult = vm.Vcpu.Run();
            returned.Set();
        });
        runner.Start();
        Assert.True(entered.Wait(TestTime.Ceiling(TimeSpan.FromSeconds(5))));
        Thread.Sleep(100); // let it get into KVM_RUN and spin
        Assert.False(returned.IsSet, "the guest loop should not exit by itself");

        var clock = Stopwatch.StartNew();
        vm.Vcpu.RequestImmediateExit();
        VcpuThreadSignal.Kick(Volatile.Read(ref thread));
        Assert.True(returned.Wait(TestTime.Ceiling(TimeSpan.FromSeconds(5))), "KVM_RUN did not return after the kick");
        Assert.False(runResult);
        Assert.True(clock.Elapsed < TestTime.Ceiling(TimeSpan.FromSeconds(2)), $"the kick took {clock.Elapsed}");
        runner.Join();

        // immediate_exit stays set: the next KVM_RUN returns at once until it is cleared.
        Assert.False(vm.Vcpu.Run());
        vm.Vcpu.RequestImmediateExit(false);
    }
}
