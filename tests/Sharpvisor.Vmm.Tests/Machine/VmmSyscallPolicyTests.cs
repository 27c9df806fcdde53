using Sharpvisor.Kvm.Sandbox;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Tests.Machine;

/// <summary>The VMM's own seccomp policy: it builds into one program and leaves out what an attacker reaches for.</summary>
public sealed class VmmSyscallPolicyTests
{
    private const uint Kill = 0x8000_0000;

    [Theory]
    [InlineData("execve", 59u)]
    [InlineData("ptrace", 101u)]
    [InlineData("mount", 165u)]
    [InlineData("chroot", 161u)]
    [InlineData("unshare", 272u)]
    [InlineData("setns", 308u)]
    [InlineData("bpf", 321u)]
    [InlineData("setuid", 105u)]
    [InlineData("init_module", 175u)]
    [InlineData("process_vm_readv", 310u)]
    public void DangerousCallsKillTheVmm(string name, uint number)
    {
        Assert.False(VmmSyscallPolicy.Allowed.ContainsKey(name));
        Assert.Equal(Kill, VmmSyscallPolicy.Filter(SeccompMode.Kill).Evaluate(number));
    }

    [Fact]
    public void ConnectFailsWithoutKilling()
    {
        // What .NET's Socket.Dispose makes on its own (connect(AF_UNSPEC)) must not kill a VMM; it still reaches nothing.
        Assert.False(VmmSyscallPolicy.Allowed.ContainsKey("connect"));
        Assert.Equal(0x0005_0000u | 1, VmmSyscallPolicy.Filter(SeccompMode.Kill).Evaluate(42)); // EPERM
    }

    [Fact]
    public void WhatAVmmDoesPasses()
    {
        var filter = VmmSyscallPolicy.Filter(SeccompMode.Kill);
        Assert.True(filter.Length < 4096);
        Assert.True(SeccompFilter.Allows(filter.Evaluate(0))); // read
        Assert.True(SeccompFilter.Allows(filter.Evaluate(16, secondArgument: 0xAE80))); // ioctl KVM_RUN
        Assert.True(SeccompFilter.Allows(filter.Evaluate(234, firstArgument: (ulong)Environment.ProcessId))); // a vCPU kick
        Assert.Equal(Kill, filter.Evaluate(234, firstArgument: 1)); // a signal to init
        Assert.Equal(Kill, filter.Evaluate(16, secondArgument: 0x8914)); // SIOCSIFFLAGS
    }
}
