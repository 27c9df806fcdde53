using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86.Emulation;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Emulation;

public sealed class EmulationAssistTests : IDisposable
{
    private const ulong Code = 0x10_0000;
    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 4UL << 20)]);

    public void Dispose() => _memory.Dispose();

    [Fact]
    public void Int3InLongModeInjectsBreakpointWithRipPastIt()
    {
        var vcpu = Vcpu64(0xCC, 0x90);
        var assist = new EmulationAssist();

        var outcome = assist.TryComplete(vcpu, _memory);

        Assert.True(outcome.Completed);
        Assert.Equal(Code + 1, vcpu.Regs.rip);
        Assert.Equal(1, vcpu.Events.exception_injected);
        Assert.Equal(3, vcpu.Events.exception_nr);
        Assert.Equal(0, vcpu.Events.exception_has_error_code);
        Assert.Equal(1, assist.Completed["int3"]);
    }

    [Fact]
    public void FwaitIsSkippedWithoutInjectingAnything()
    {
        var vcpu = Vcpu64(0x9B, 0x90);
        var assist = new EmulationAssist();

        Assert.True(assist.TryComplete(vcpu, _memory).Completed);
        Assert.True(assist.TryComplete(vcpu, _memory) is { Completed: false }); // now at the nop: not ours to complete

        Assert.Equal(Code + 1, vcpu.Regs.rip);
        Assert.Equal(0, vcpu.Events.exception_injected);
        Assert.Equal(1, assist.Completed["fwait"]);
    }

    [Fact]
    public void UnsupportedInstructionIsNamedWithTheFeatureToClear()
    {
        var vcpu = Vcpu64(0xF3, 0x48, 0x0F, 0xB8, 0xC1); // popcnt rax, rcx
        var outcome = new EmulationAssist().TryComplete(vcpu, _memory);

        Assert.False(outcome.Completed);
        Assert.Contains("popcnt rax,rcx", outcome.Description, StringComparison.Ordinal);
        Assert.Contains("clearcpuid=popcnt", outcome.Description, StringComparison.Ordinal);
        Assert.Equal(Code, vcpu.Regs.rip);
    }

    [Fact]
    public void SseInstructionSaysNoFeatureCanBeCleared()
    {
        var vcpu = Vcpu64(0x66, 0x44, 0x0F, 0x6E, 0xF9); // movd xmm15, ecx
        var outcome = new EmulationAssist().TryComplete(vcpu, _memory);

        Assert.False(outcome.Completed);
        Assert.Contains("no CPU feature can be cleared", outcome.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void ProtectedModeCodeIsFetchedAtCsBasePlusEip()
    {
        var vcpu = new FakeVcpu { Regs = new kvm_regs { rip = 0x1000 } };
        vcpu.Sregs.cs.@base = Code - 0x1000;
        vcpu.Sregs.cs.db = 1;
        _memory.Write(new GuestAddress(Code), [0xCC]);

        Assert.True(new EmulationAssist().TryComplete(vcpu, _memory).Completed);
        Assert.Equal(0x1001UL, vcpu.Regs.rip);
    }

    [Fact]
    public void UnmappedRipIsReportedNotThrown()
    {
        var vcpu = Vcpu64(0xCC);
        vcpu.Unmapped = true;
        var outcome = new EmulationAssist().TryComplete(vcpu, _memory);

        Assert.False(outcome.Completed);
        Assert.Contains("not mapped", outcome.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void RipTranslatingOutsideRamIsReportedNotThrown()
    {
        var vcpu = Vcpu64(0xCC);
        vcpu.TranslateOffset = 1UL << 40; // the guest's page tables point far outside its RAM
        Assert.False(new EmulationAssist().TryComplete(vcpu, _memory).Completed);
    }

    [Fact]
    public void InstructionCrossingIntoAnUnmappedPageStillDecodesWhenItFits()
    {
        var at = 0x1F_FFFFUL; // last byte of a page: int3 fits, the next page is "unmapped"
        var vcpu = new FakeVcpu { Regs = new kvm_regs { rip = at }, UnmappedFrom = at + 1 };
        vcpu.Sregs.cs.l = 1;
        _memory.Write(new GuestAddress(at), [0xCC]);
        Assert.True(new EmulationAssist().TryComplete(vcpu, _memory).Completed);
    }

    private FakeVcpu Vcpu64(params byte[] code)
    {
        _memory.Write(new GuestAddress(Code), code);
        var vcpu = new FakeVcpu { Regs = new kvm_regs { rip = Code } };
        vcpu.Sregs.cs.l = 1;
        return vcpu;
    }

    private sealed class FakeVcpu : IVcpuState
    {
        public kvm_regs Regs;
        public kvm_sregs Sregs;
        public kvm_vcpu_events Events;

        public bool Unmapped { get; set; }

        public ulong UnmappedFrom { get; set; } = ulong.MaxValue;

        public ulong TranslateOffset { get; set; }

        public kvm_regs GetRegs() => Regs;

        public void SetRegs(kvm_regs regs) => Regs = regs;

        public kvm_sregs GetSregs() => Sregs;

        public kvm_vcpu_events GetVcpuEvents() => Events;

        public void SetVcpuEvents(kvm_vcpu_events events) => Events = events;

        public ulong? Translate(ulong linearAddress) =>
            Unmapped || linearAddress >= UnmappedFrom ? null : linearAddress + TranslateOffset;
    }
}
