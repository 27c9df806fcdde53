using System.Collections.Concurrent;
using Iced.Intel;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Emulation;

/// <summary>
/// Completes, on the guest's behalf, the few instructions a host's KVM instruction emulator (PVM) stops on
/// with KVM_EXIT_INTERNAL_ERROR / emulation failure, where the VMM can do what the CPU would:
/// <c>int3</c> becomes an injected #BP with RIP past it, <c>fwait</c> a no-op (no x87 exception is ever
/// pending here). Anything else is reported with the instruction and the CPU feature to clear.
/// </summary>
public sealed class EmulationAssist
{
    public const int MaxInstructionLength = 15;
    private const byte BreakpointVector = 3;
    private const ulong PageSize = 4096;

    private readonly ConcurrentDictionary<string, long> _completed = new(StringComparer.Ordinal);

    /// <summary>How many of each instruction were completed, by mnemonic (for the VM's metrics).</summary>
    public IReadOnlyDictionary<string, long> Completed => _completed;

    public EmulationOutcome TryComplete(IVcpuState vcpu, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(vcpu);
        ArgumentNullException.ThrowIfNull(memory);
        var regs = vcpu.GetRegs();
        var sregs = vcpu.GetSregs();
        var bitness = sregs.cs.l != 0 ? 64 : sregs.cs.db != 0 ? 32 : 16;
        var ip = bitness == 16 ? regs.rip & 0xFFFF : regs.rip;
        var linear = bitness == 64 ? ip : sregs.cs.@base + ip;

        var bytes = ReadCode(vcpu, memory, linear);
        if (bytes.Length == 0)
        {
            return EmulationOutcome.Unsupported($"rip 0x{regs.rip:x} (linear 0x{linear:x}) is not mapped to guest RAM");
        }

        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(bytes), ip);
        decoder.Decode(out var instruction);
        if (instruction.IsInvalid)
        {
            return EmulationOutcome.Unsupported($"undecodable bytes at rip 0x{regs.rip:x}: {Convert.ToHexString(bytes)}");
        }

        switch (instruction.Mnemonic)
        {
            case Mnemonic.Int3:
                regs.rip += (ulong)instruction.Length;
                vcpu.SetRegs(regs);
                var events = vcpu.GetVcpuEvents();
                events.exception_injected = 1;
                events.exception_nr = BreakpointVector;
                events.exception_has_error_code = 0;
                events.exception_error_code = 0;
                vcpu.SetVcpuEvents(events);
                return Count("int3");
            case Mnemonic.Wait:
                regs.rip += (ulong)instruction.Length;
                vcpu.SetRegs(regs);
                return Count("fwait");
            default:
                return EmulationOutcome.Unsupported(DescribeUnsupported(instruction));
        }
    }

    private EmulationOutcome Count(string mnemonic)
    {
        _completed.AddOrUpdate(mnemonic, 1, (_, count) => count + 1);
        return EmulationOutcome.Done(mnemonic);
    }

    /// <summary>Reads up to 15 code bytes, stopping at the first page that does not translate into RAM.</summary>
    private static byte[] ReadCode(IVcpuState vcpu, GuestMemory memory, ulong linear)
    {
        var code = new List<byte>(MaxInstructionLength);
        while (code.Count < MaxInstructionLength)
        {
            var at = linear + (ulong)code.Count;
            var inPage = (int)Math.Min((ulong)(MaxInstructionLength - code.Count), PageSize - (at % PageSize));
            if (vcpu.Translate(at) is not { } physical || !memory.IsValid(new GuestAddress(physical), (ulong)inPage))
            {
                break;
            }

            var chunk = new byte[inPage];
            memory.Read(new GuestAddress(physical), chunk);
            code.AddRange(chunk);
        }

        return [.. code];
    }

    private static string DescribeUnsupported(Instruction instruction)
    {
        var text = $"`{instruction}`";
        var features = instruction.Code.CpuidFeatures().Where(f => f is not CpuidFeature.INTEL8086 and not CpuidFeature.INTEL386 and not CpuidFeature.X64).ToArray();
        var clearable = features.Select(CpuFeatureNames.ClearCpuidName).OfType<string>().Distinct().ToArray();
        var featureList = features.Length == 0 ? "" : $" ({string.Join(", ", features)})";
        return clearable.Length > 0
            ? $"{text}{featureList} is not supported by this host's instruction emulator; boot the guest with clearcpuid={string.Join(',', clearable)}"
            : $"{text}{featureList} is not supported by this host's instruction emulator, and no CPU feature can be cleared to avoid it";
    }
}

/// <summary>The result of <see cref="EmulationAssist.TryComplete"/>.</summary>
public sealed record EmulationOutcome(bool Completed, string Description)
{
    public static EmulationOutcome Done(string mnemonic) => new(true, mnemonic);

    public static EmulationOutcome Unsupported(string why) => new(false, why);
}
