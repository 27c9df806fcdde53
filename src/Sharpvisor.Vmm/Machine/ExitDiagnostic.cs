using System.Globalization;
using System.Text;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// Formats a readable report of a vCPU that stopped unexpectedly: the exit, the registers, and the
/// instruction bytes at RIP (found through the guest's own page tables with KVM_TRANSLATE).
/// </summary>
public static class ExitDiagnostic
{
    public const int CodeBytes = 16;

    public static string Describe(KvmVcpu vcpu, GuestMemory memory, string headline)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"vCPU {vcpu.Id}: {headline}");
        try
        {
            var regs = vcpu.GetRegs();
            var sregs = vcpu.GetSregs();
            sb.AppendLine();
            sb.Append(FormatRegisters(regs, sregs));
            sb.Append(IsPowerOnState(regs, sregs) ? ResetNote : FormatCode(vcpu, memory, regs, sregs));
        }
        catch (KvmException e)
        {
            sb.Append(CultureInfo.InvariantCulture, $" (registers unavailable: {e.Message})");
        }

        return sb.ToString();
    }

    public static string FormatRegisters(kvm_regs r, kvm_sregs s)
    {
        var sb = new StringBuilder();
        Line(sb, ("rax", r.rax), ("rbx", r.rbx), ("rcx", r.rcx), ("rdx", r.rdx));
        Line(sb, ("rsi", r.rsi), ("rdi", r.rdi), ("rsp", r.rsp), ("rbp", r.rbp));
        Line(sb, ("r8", r.r8), ("r9", r.r9), ("r10", r.r10), ("r11", r.r11));
        Line(sb, ("r12", r.r12), ("r13", r.r13), ("r14", r.r14), ("r15", r.r15));
        Line(sb, ("rip", r.rip), ("rflags", r.rflags), ("cs", s.cs.selector), ("ss", s.ss.selector));
        Line(sb, ("cr0", s.cr0), ("cr2", s.cr2), ("cr3", s.cr3), ("cr4", s.cr4));
        Line(sb, ("efer", s.efer), ("cs.base", s.cs.@base), ("gdt", s.gdt.@base), ("idt", s.idt.@base));
        sb.Append(CultureInfo.InvariantCulture, $"  mode: {Mode(s)}").AppendLine();
        return sb.ToString();
    }

    /// <summary>
    /// Said instead of the code at RIP when the registers are those of a CPU just reset: on AMD-V, KVM re-initializes
    /// a vCPU whose guest shut down (the VMCB is undefined after a shutdown intercept), so a triple fault's registers
    /// are gone by the time the VMM sees the exit.
    /// </summary>
    public const string ResetNote =
        "  the vCPU is in its reset state: the CPU (AMD-V) re-initialized it at the fault, so the faulting registers and instruction are gone\n";

    /// <summary>The state INIT or power-on leaves: real mode at F000:FFF0 (the reset vector below 4 GiB).</summary>
    public static bool IsPowerOnState(kvm_regs r, kvm_sregs s) =>
        (s.cr0 & 1) == 0 && r.rip == 0xFFF0 && s.cs.selector == 0xF000 && s.cs.@base == 0xFFFF_0000;

    /// <summary>32-bit or 64-bit protected mode, or real mode, as the CPU would decode code at RIP.</summary>
    public static string Mode(kvm_sregs s) =>
        (s.cr0 & 1) == 0 ? "real" : s.cs.l != 0 ? "64-bit" : s.cs.db != 0 ? "32-bit protected" : "16-bit protected";

    private static string FormatCode(KvmVcpu vcpu, GuestMemory memory, kvm_regs regs, kvm_sregs sregs)
    {
        var linear = sregs.cs.l != 0 ? regs.rip : sregs.cs.@base + regs.rip;
        ulong? physical;
        try
        {
            physical = vcpu.Translate(linear);
        }
        catch (KvmException)
        {
            physical = null;
        }

        if (physical is not { } address)
        {
            return $"  code at rip: linear 0x{linear:x} is not mapped\n";
        }

        Span<byte> bytes = stackalloc byte[CodeBytes];
        var length = CodeBytes;
        // Near the end of a region fewer than 16 bytes may be readable.
        while (length > 0 && !memory.IsValid(new GuestAddress(address), (ulong)length))
        {
            length--;
        }

        if (length == 0)
        {
            return $"  code at rip: physical 0x{address:x} is outside guest RAM\n";
        }

        memory.Read(new GuestAddress(address), bytes[..length]);
        return $"  code at rip (physical 0x{address:x}): {Convert.ToHexString(bytes[..length]).ToLowerInvariant().Chunk(2).Select(c => new string(c)).Aggregate((a, b) => a + " " + b)}\n";
    }

    private static void Line(StringBuilder sb, params (string Name, ulong Value)[] registers)
    {
        sb.Append(' ');
        foreach (var (name, value) in registers)
        {
            sb.Append(CultureInfo.InvariantCulture, $" {name,-7}={value:x16}");
        }

        sb.AppendLine();
    }
}
