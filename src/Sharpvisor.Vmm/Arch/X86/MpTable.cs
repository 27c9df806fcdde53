using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Arch.X86.Acpi;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// An Intel MultiProcessor Specification 1.4 table: the MP floating pointer structure followed by an MP
/// configuration table that describes the same machine as the MADT (one processor per vCPU with APIC ID =
/// vCPU index, the user-space I/O APIC, ISA IRQs on I/O APIC pins with IRQ 0 on pin 2, NMI on LINT1) and the
/// _PRT (PCI bus 0's INTA-INTD of slots 1-31 on the GSIs <see cref="PciInterruptRouting"/> names, level, active low).
/// <para>
/// Linux looks for the floating pointer early in setup_arch (<c>find_smp_config</c>), before it reads ACPI,
/// whether or not ACPI is there: in the first KiB of memory, then in the last KiB of base memory (639 KiB),
/// then through all of the BIOS ROM at 0xF0000-0xFFFFF. Its scan maps the rest of the region anew for every
/// 16-byte step, so the 64 KiB ROM scan costs 4096 early_memremap/unmap rounds of up to 17 pages each, with a
/// TLB flush per page. Under an instruction-emulating KVM (PVM) that took about 3 s of a Linux boot. A
/// floating pointer at 639 KiB, where QEMU's firmware (qboot, SeaBIOS) puts one, ends the scan in its second
/// region. With the MADT present Linux then uses ACPI and only reserves the MP table; without ACPI
/// (<c>acpi=off</c>) the table is what it boots from.
/// </para>
/// </summary>
public static class MpTable
{
    public const int FloatingPointerLength = 16;
    public const int ConfigHeaderLength = 44;
    public const int ProcessorEntryLength = 20;
    public const int EntryLength = 8;

    public const byte EntryProcessor = 0;
    public const byte EntryBus = 1;
    public const byte EntryIoApic = 2;
    public const byte EntryIoInterrupt = 3;
    public const byte EntryLocalInterrupt = 4;

    public const byte SpecRevision = 4; // MP spec 1.4

    public const byte InterruptTypeInt = 0;
    public const byte InterruptTypeNmi = 1;

    public const byte ProcessorEnabled = 0x01;
    public const byte ProcessorBootstrap = 0x02;

    /// <summary>The local APIC version a processor entry reports (an integrated xAPIC).</summary>
    public const byte LocalApicVersion = 0x14;

    /// <summary>The I/O APIC version, as its version register reports it (82093AA-compatible, 0x11).</summary>
    public const byte IoApicVersion = 0x11;

    /// <summary>An xAPIC ID is 8 bits and 0xFF is broadcast: processors with higher IDs exist only in the MADT.</summary>
    public const int MaxProcessors = 0xFF;

    public const int IsaIrqCount = 16;

    /// <summary>Linux matches a PCI interrupt entry's source bus against the PCI bus number, so PCI bus 0 is MP bus 0.</summary>
    public const byte PciBusId = 0;
    public const byte IsaBusId = 1;

    /// <summary>Interrupt entry flags: polarity active low (bits 1:0 = 11), trigger level (bits 3:2 = 11).</summary>
    public const ushort PciInterruptFlags = 0x0F;

    private static readonly int PciInterruptEntries = PciInterruptRouting.Routes.Count;
    private const byte AllLocalApics = 0xFF;
    private const int ChecksumOffsetFloating = 10;
    private const int ChecksumOffsetConfig = 7;

    /// <summary>Bytes of floating pointer plus configuration table for <paramref name="vcpuCount"/> vCPUs.</summary>
    public static int LengthFor(int vcpuCount) =>
        FloatingPointerLength + ConfigHeaderLength + (Math.Min(vcpuCount, MaxProcessors) * ProcessorEntryLength)
        + (EntryLength * (2 + 1 + (IsaIrqCount - 1) + PciInterruptEntries + 1)); // buses, I/O APIC, IRQs, LINT1

    /// <summary>
    /// The floating pointer at <paramref name="address"/> (16-byte aligned), the configuration table right after it.
    /// </summary>
    public static byte[] Build(int vcpuCount, GuestAddress address)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vcpuCount, 1);
        if (address.Value % 16 != 0 || address.Value + (ulong)LengthFor(vcpuCount) > 0x1_0000_0000)
        {
            throw new ArgumentException($"the MP table must be 16-byte aligned and below 4 GiB; {address} is not", nameof(address));
        }

        var bytes = new byte[LengthFor(vcpuCount)];
        var config = bytes.AsSpan(FloatingPointerLength);

        // Floating pointer: "_MP_", physical address of the configuration table, length in 16-byte units,
        // revision, checksum, feature byte 1 = 0 (a configuration table is present, no default configuration),
        // feature byte 2 bit 7 = 0 (virtual wire mode: there is no IMCR).
        var floating = bytes.AsSpan(0, FloatingPointerLength);
        Encoding.ASCII.GetBytes("_MP_", floating);
        BinaryPrimitives.WriteUInt32LittleEndian(floating[4..], (uint)(address.Value + FloatingPointerLength));
        floating[8] = 1;
        floating[9] = SpecRevision;
        floating[ChecksumOffsetFloating] = AcpiChecksum.Compute(floating, ChecksumOffsetFloating);

        var offset = ConfigHeaderLength;
        var entries = 0;
        var processors = Math.Min(vcpuCount, MaxProcessors);
        for (var id = 0; id < processors; id++)
        {
            var e = config.Slice(offset, ProcessorEntryLength);
            e[0] = EntryProcessor;
            e[1] = (byte)id;
            e[2] = LocalApicVersion;
            e[3] = (byte)(ProcessorEnabled | (id == 0 ? ProcessorBootstrap : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 0x600);               // CPU signature: family 6
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (1u << 0) | (1u << 9)); // feature flags: FPU, APIC
            offset += ProcessorEntryLength;
            entries++;
        }

        foreach (var (id, name) in new[] { (PciBusId, "PCI   "), (IsaBusId, "ISA   ") })
        {
            var bus = config.Slice(offset, EntryLength);
            bus[0] = EntryBus;
            bus[1] = id;
            Encoding.ASCII.GetBytes(name, bus[2..]);
            offset += EntryLength;
            entries++;
        }

        var ioapic = config.Slice(offset, EntryLength);
        ioapic[0] = EntryIoApic;
        ioapic[1] = Madt.IoApicId;
        ioapic[2] = IoApicVersion;
        ioapic[3] = 1; // enabled
        BinaryPrimitives.WriteUInt32LittleEndian(ioapic[4..], Madt.IoApicAddress);
        offset += EntryLength;
        entries++;

        // ISA IRQ n on pin n, except IRQ 0 on pin 2 (the MADT's interrupt source override) and no IRQ 2 (the
        // 8259 cascade, which this machine does not have). Flags 0: polarity and trigger conform to the ISA bus.
        for (var irq = 0; irq < IsaIrqCount; irq++)
        {
            if (irq == 2)
            {
                continue;
            }

            var e = config.Slice(offset, EntryLength);
            e[0] = EntryIoInterrupt;
            e[1] = InterruptTypeInt;
            e[4] = IsaBusId;
            e[5] = (byte)irq;
            e[6] = Madt.IoApicId;
            e[7] = irq == Madt.TimerIsaIrq ? (byte)Madt.TimerGsi : (byte)irq;
            offset += EntryLength;
            entries++;
        }

        // PCI: the source IRQ is the slot in bits 6:2 and the pin (0 = INTA) in bits 1:0.
        foreach (var (slot, pin, gsi) in PciInterruptRouting.Routes)
        {
            var e = config.Slice(offset, EntryLength);
            e[0] = EntryIoInterrupt;
            e[1] = InterruptTypeInt;
            BinaryPrimitives.WriteUInt16LittleEndian(e[2..], PciInterruptFlags);
            e[4] = PciBusId;
            e[5] = (byte)((slot << 2) | (pin - PciInterruptRouting.PinA));
            e[6] = Madt.IoApicId;
            e[7] = (byte)gsi;
            offset += EntryLength;
            entries++;
        }

        var nmi = config.Slice(offset, EntryLength);
        nmi[0] = EntryLocalInterrupt;
        nmi[1] = InterruptTypeNmi;
        nmi[4] = IsaBusId;
        nmi[6] = AllLocalApics;
        nmi[7] = Madt.NmiLint;
        offset += EntryLength;
        entries++;

        // Configuration table header: "PCMP", base table length, revision, checksum, OEM and product IDs,
        // no OEM table, the entry count, the local APIC address, no extended table.
        Encoding.ASCII.GetBytes("PCMP", config);
        BinaryPrimitives.WriteUInt16LittleEndian(config[4..], (ushort)offset);
        config[6] = SpecRevision;
        Encoding.ASCII.GetBytes(AcpiIds.OemId.PadRight(8).AsSpan(0, 8), config[8..16]);
        Encoding.ASCII.GetBytes("SHARPVISOR  ", config[16..28]);
        BinaryPrimitives.WriteUInt16LittleEndian(config[34..], (ushort)entries);
        BinaryPrimitives.WriteUInt32LittleEndian(config[36..], Madt.LocalApicAddress);
        var table = config[..offset];
        table[ChecksumOffsetConfig] = AcpiChecksum.Compute(table, ChecksumOffsetConfig);
        return bytes;
    }

    /// <summary>Writes the table at <see cref="MemoryLayout.MpTable"/>, in the last KiB of base memory.</summary>
    public static void WriteTo(GuestMemory memory, int vcpuCount)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var bytes = Build(vcpuCount, MemoryLayout.MpTable);
        if ((ulong)bytes.Length > MemoryLayout.MpTableSize)
        {
            throw new InvalidOperationException($"the MP table needs 0x{bytes.Length:x} bytes but its region holds 0x{MemoryLayout.MpTableSize:x}");
        }

        memory.Write(MemoryLayout.MpTable, bytes);
    }
}
