namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>The small resource descriptors (ACPI 6.x, 6.4.2) a legacy device's _CRS needs.</summary>
internal static class ResourceDescriptors
{
    // Small item tag byte: bit 7 clear, item name in bits 3-6, length in bits 0-2.
    private const byte IrqTag = (0x04 << 3) | 2;
    private const byte IoPortTag = (0x08 << 3) | 7;
    private const byte EndTagTag = (0x0F << 3) | 1;
    private const byte Decode16 = 1;

    /// <summary>I/O port descriptor with 16-bit decode.</summary>
    public static byte[] Io16(ushort minimum, ushort maximum, byte alignment, byte length) =>
        [IoPortTag, Decode16, (byte)minimum, (byte)(minimum >> 8), (byte)maximum, (byte)(maximum >> 8), alignment, length];

    /// <summary>IRQ descriptor without the information byte: edge triggered, active high, exclusive.</summary>
    public static byte[] IrqNoFlags(int irq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(irq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        var mask = (ushort)(1 << irq);
        return [IrqTag, (byte)mask, (byte)(mask >> 8)];
    }

    /// <summary>End tag; a zero checksum byte means "treat the template as valid".</summary>
    public static byte[] EndTag() => [EndTagTag, 0];
}
