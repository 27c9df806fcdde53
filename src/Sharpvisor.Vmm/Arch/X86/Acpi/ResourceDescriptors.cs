namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The resource descriptors (ACPI 6.x, 6.4) our _CRS objects need: small items for legacy devices, and the
/// large Word/DWord address space items a PCI host bridge uses to declare the windows it decodes.
/// </summary>
internal static class ResourceDescriptors
{
    // Small item tag byte: bit 7 clear, item name in bits 3-6, length in bits 0-2.
    private const byte IrqTag = (0x04 << 3) | 2;
    private const byte IoPortTag = (0x08 << 3) | 7;
    private const byte EndTagTag = (0x0F << 3) | 1;
    private const byte Decode16 = 1;

    // Large items: bit 7 set, then a 16-bit length of what follows.
    private const byte WordAddressTag = 0x88;
    private const byte DWordAddressTag = 0x87;
    private const byte FixedMemory32Tag = 0x86;
    private const byte ReadWrite = 1;

    // Address space resource types and flags (ACPI 6.4.3.5).
    private const byte MemoryRange = 0;
    private const byte IoRange = 1;
    private const byte BusNumberRange = 2;
    private const byte ProducerMinMaxFixed = 0b1100; // _MAF and _MIF set, positive decode, resource producer
    private const byte IoEntireRange = 0b11;
    private const byte MemoryReadWriteNonCacheable = 0b1;

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

    /// <summary>WordBusNumber (producer, fixed): the bus numbers a host bridge owns.</summary>
    public static byte[] WordBusNumber(ushort first, ushort last) => WordAddress(BusNumberRange, 0, first, last);

    /// <summary>WordIO (producer, fixed, entire range): a port window a host bridge forwards.</summary>
    public static byte[] WordIo(ushort first, ushort last) => WordAddress(IoRange, IoEntireRange, first, last);

    /// <summary>DWordMemory (producer, fixed, non-cacheable, read-write): a 32-bit MMIO window a host bridge forwards.</summary>
    public static byte[] DWordMemory(uint first, uint last)
    {
        var body = new byte[3 + 20];
        body[0] = MemoryRange;
        body[1] = ProducerMinMaxFixed;
        body[2] = MemoryReadWriteNonCacheable;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(7), first);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(11), last);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(19), last - first + 1);
        return Large(DWordAddressTag, body);
    }

    /// <summary>Memory32Fixed (read-write): a range of memory a device decodes (or, under PNP0C02, that is reserved).</summary>
    public static byte[] Memory32Fixed(uint start, uint length)
    {
        var body = new byte[9];
        body[0] = ReadWrite;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(1), start);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(5), length);
        return Large(FixedMemory32Tag, body);
    }

    private static byte[] WordAddress(byte type, byte typeFlags, ushort first, ushort last)
    {
        // granularity, minimum, maximum, translation offset, length: five words after the three flag bytes.
        var body = new byte[3 + 10];
        body[0] = type;
        body[1] = ProducerMinMaxFixed;
        body[2] = typeFlags;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(5), first);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(7), last);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(11), (ushort)(last - first + 1));
        return Large(WordAddressTag, body);
    }

    private static byte[] Large(byte tag, byte[] body) => [tag, (byte)body.Length, (byte)(body.Length >> 8), .. body];

    /// <summary>End tag; a zero checksum byte means "treat the template as valid".</summary>
    public static byte[] EndTag() => [EndTagTag, 0];
}
