using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>The address space a <see cref="GenericAddress"/> points into (ACPI 6.x, 5.2.3.2).</summary>
public enum AddressSpace : byte
{
    SystemMemory = 0,
    SystemIo = 1,
}

/// <summary>The access size field of a <see cref="GenericAddress"/>.</summary>
public enum AccessSize : byte
{
    Undefined = 0,
    Byte = 1,
    Word = 2,
    DWord = 3,
    QWord = 4,
}

/// <summary>A 12-byte Generic Address Structure: where a register is and how wide an access to it is.</summary>
public readonly record struct GenericAddress(AddressSpace Space, byte BitWidth, byte BitOffset, AccessSize AccessSize, ulong Address)
{
    public const int Size = 12;

    /// <summary>A one-byte register at an I/O port.</summary>
    public static GenericAddress IoByte(ushort port) => new(AddressSpace.SystemIo, 8, 0, AccessSize.Byte, port);

    public void WriteTo(Span<byte> destination)
    {
        destination[0] = (byte)Space;
        destination[1] = BitWidth;
        destination[2] = BitOffset;
        destination[3] = (byte)AccessSize;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[4..], Address);
    }
}
