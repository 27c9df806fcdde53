using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class LocalApicSetupTests
{
    private const int Lint0 = 0x350;
    private const int Lint1 = 0x360;
    private const uint ExtInt = 0b111;
    private const uint Nmi = 0b100;

    private static uint DeliveryMode(uint lvt) => (lvt >> 8) & 0b111;

    private static bool IsMasked(uint lvt) => ((lvt >> 16) & 1) != 0;

    private static byte[] Bytes(kvm_lapic_state state) => MemoryMarshal.AsBytes(new Span<kvm_lapic_state>(ref state)).ToArray();

    private static kvm_lapic_state State(Func<int, byte> fill)
    {
        var state = default(kvm_lapic_state);
        var bytes = MemoryMarshal.AsBytes(new Span<kvm_lapic_state>(ref state));
        Assert.Equal(1024, bytes.Length);
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = fill(i);
        }

        return state;
    }

    public static TheoryData<string> StartingStates => ["zero", "reset", "garbage"];

    private static kvm_lapic_state Start(string kind)
    {
        switch (kind)
        {
            case "reset":
                // KVM resets every LVT entry to masked, fixed delivery.
                var reset = default(kvm_lapic_state);
                reset.SetRegister(Lint0, 1u << 16);
                reset.SetRegister(Lint1, 1u << 16);
                return reset;
            case "garbage":
                return State(i => (byte)((i * 37) + 11));
            default:
                return default;
        }
    }

    [Theory]
    [MemberData(nameof(StartingStates))]
    public void EveryVcpuMasksLint0AndTakesNmiOnLint1(string start)
    {
        // The machine has no 8259 PIC (split irqchip), so nothing may arrive as ExtINT on any vCPU.
        var state = LocalApicSetup.Configure(Start(start));

        Assert.True(IsMasked(state.GetRegister(Lint0)));
        Assert.NotEqual(ExtInt, DeliveryMode(state.GetRegister(Lint0)));
        var lint1 = state.GetRegister(Lint1);
        Assert.Equal(Nmi, DeliveryMode(lint1));
        Assert.False(IsMasked(lint1));
    }

    [Fact]
    public void OnlyTheLintEntriesChange()
    {
        var before = Start("garbage");
        var after = LocalApicSetup.Configure(before);

        var a = Bytes(before);
        var b = Bytes(after);
        for (var i = 0; i < 1024; i++)
        {
            var inLint = i is >= Lint0 and < Lint0 + 4 or >= Lint1 and < Lint1 + 4;
            if (!inLint)
            {
                Assert.True(a[i] == b[i], $"APIC byte 0x{i:x} changed");
            }
        }

        // Vector and trigger bits of the LINT entries are left as they were.
        const uint ModeAndMask = 0x0001_0700;
        Assert.Equal(before.GetRegister(Lint0) & ~ModeAndMask, after.GetRegister(Lint0) & ~ModeAndMask);
        Assert.Equal(before.GetRegister(Lint1) & ~ModeAndMask, after.GetRegister(Lint1) & ~ModeAndMask);
    }

    [Fact]
    public void ConfiguringTwiceChangesNothing()
    {
        var once = LocalApicSetup.Configure(Start("garbage"));
        var twice = LocalApicSetup.Configure(once);
        Assert.Equal(Bytes(once), Bytes(twice));
    }
}
