using Sharpvisor.Kvm.Interop;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Boot;

/// <summary>What the boot vCPU starts with once a kernel is in memory: its registers and how to set its segments.</summary>
public sealed record BootEntry(kvm_regs Registers, Func<kvm_sregs, kvm_sregs> SegmentRegisters);

/// <summary>What every boot protocol hands the kernel, beside the kernel itself.</summary>
public sealed record BootInputs(string CommandLine, ReadOnlyMemory<byte> Initrd, GuestAddress RsdpAddress);
