using System.Buffers.Binary;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>Safe access to the 32-bit registers inside a kvm_lapic_state (the APIC's MMIO page image).</summary>
public static unsafe class LapicStateExtensions
{
    private const int Size = 1024;

    public static uint GetRegister(this ref kvm_lapic_state state, int offset)
    {
        CheckOffset(offset);
        // SAFETY: regs is a 1024-byte inline array; offset + 4 <= 1024 was checked.
        fixed (byte* regs = state.regs)
        {
            return BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(regs + offset, 4));
        }
    }

    public static void SetRegister(this ref kvm_lapic_state state, int offset, uint value)
    {
        CheckOffset(offset);
        // SAFETY: as in GetRegister.
        fixed (byte* regs = state.regs)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(regs + offset, 4), value);
        }
    }

    private static void CheckOffset(int offset)
    {
        if (offset < 0 || offset > Size - 4 || (offset & 0xF) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, "APIC registers are 16-byte aligned inside the 1 KiB page");
        }
    }
}
