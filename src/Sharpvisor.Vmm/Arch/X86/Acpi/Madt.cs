namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The Multiple APIC Description Table (ACPI 6.3, 5.2.12, signature "APIC"): one local APIC per vCPU with
/// APIC ID = vCPU index, the user-space I/O APIC, ISA IRQ 0 routed to GSI 2, and NMI on LINT1 of every CPU.
/// No PCAT_COMPAT flag: there is no 8259 to mask.
/// </summary>
public static class Madt
{
    public const string Signature = "APIC";
    public const byte Revision = 5;
    public const uint LocalApicAddress = 0xFEE0_0000;

    public const byte TypeLocalApic = 0;
    public const byte TypeIoApic = 1;
    public const byte TypeInterruptSourceOverride = 2;
    public const byte TypeLocalApicNmi = 4;
    public const byte TypeLocalX2Apic = 9;
    public const byte TypeLocalX2ApicNmi = 10;

    public const int LocalApicLength = 8;
    public const int IoApicLength = 12;
    public const int InterruptSourceOverrideLength = 10;
    public const int LocalApicNmiLength = 6;
    public const int LocalX2ApicLength = 16;
    public const int LocalX2ApicNmiLength = 12;

    /// <summary>An xAPIC entry holds an 8-bit ID and 0xFF means broadcast, so IDs from 255 up need x2APIC entries.</summary>
    public const int FirstX2ApicId = 0xFF;

    public const byte IoApicId = 0;
    public const uint IoApicAddress = 0xFEC0_0000;
    public const uint IoApicGsiBase = 0;

    /// <summary>The PIT's ISA IRQ 0 arrives on I/O APIC pin 2, where the PC has always wired it.</summary>
    public const byte TimerIsaIrq = 0;
    public const uint TimerGsi = 2;

    /// <summary>MPS INTI flags: active high (polarity 01), edge triggered (trigger mode 01).</summary>
    public const ushort ActiveHighEdge = 0x0001 | (0x0001 << 2);

    public const byte ProcessorEnabled = 1;
    public const byte NmiLint = 1;
    public const byte AllProcessorsUid = 0xFF;
    public const uint AllX2ApicProcessorsUid = 0xFFFF_FFFF;

    public const int MaxVcpus = 1024;

    /// <summary>Local Interrupt Controller Address and Flags, between the header and the first entry.</summary>
    private const int FixedFieldsLength = 8;

    /// <summary>Bytes of the table for <paramref name="vcpuCount"/> vCPUs.</summary>
    public static int LengthFor(int vcpuCount)
    {
        var xapic = Math.Min(vcpuCount, FirstX2ApicId);
        var x2apic = vcpuCount - xapic;
        return AcpiTableHeader.Length + FixedFieldsLength + (xapic * LocalApicLength) + (x2apic * LocalX2ApicLength)
            + IoApicLength + InterruptSourceOverrideLength + LocalApicNmiLength
            + (x2apic > 0 ? LocalX2ApicNmiLength : 0);
    }

    public static byte[] Build(int vcpuCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vcpuCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vcpuCount, MaxVcpus);

        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        writer.U32(LocalApicAddress);
        writer.U32(0); // flags: no PCAT_COMPAT

        for (var id = 0; id < vcpuCount; id++)
        {
            if (id < FirstX2ApicId)
            {
                writer.U8(TypeLocalApic);
                writer.U8(LocalApicLength);
                writer.U8((byte)id); // ACPI processor UID
                writer.U8((byte)id); // APIC ID
                writer.U32(ProcessorEnabled);
            }
            else
            {
                writer.U8(TypeLocalX2Apic);
                writer.U8(LocalX2ApicLength);
                writer.U16(0); // reserved
                writer.U32((uint)id); // x2APIC ID
                writer.U32(ProcessorEnabled);
                writer.U32((uint)id); // ACPI processor UID
            }
        }

        writer.U8(TypeIoApic);
        writer.U8(IoApicLength);
        writer.U8(IoApicId);
        writer.U8(0); // reserved
        writer.U32(IoApicAddress);
        writer.U32(IoApicGsiBase);

        writer.U8(TypeInterruptSourceOverride);
        writer.U8(InterruptSourceOverrideLength);
        writer.U8(0); // bus: ISA
        writer.U8(TimerIsaIrq);
        writer.U32(TimerGsi);
        writer.U16(ActiveHighEdge);

        writer.U8(TypeLocalApicNmi);
        writer.U8(LocalApicNmiLength);
        writer.U8(AllProcessorsUid);
        writer.U16(ActiveHighEdge);
        writer.U8(NmiLint);

        if (vcpuCount > FirstX2ApicId)
        {
            // The xAPIC NMI entry's 8-bit UID cannot name the x2APIC processors; this one covers them.
            writer.U8(TypeLocalX2ApicNmi);
            writer.U8(LocalX2ApicNmiLength);
            writer.U16(ActiveHighEdge);
            writer.U32(AllX2ApicProcessorsUid);
            writer.U8(NmiLint);
            writer.Zeros(3);
        }

        return writer.FinishTable();
    }
}
