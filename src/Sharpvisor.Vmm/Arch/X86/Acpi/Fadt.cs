using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Acpi;

/// <summary>
/// The Fixed ACPI Description Table, revision 6 (ACPI 6.3, 5.2.9), for a hardware-reduced platform: no PM1/PM2/
/// PM timer/GPE blocks, no SCI, no FACS; power-off and reset go through the sleep and reset registers of
/// <see cref="AcpiPmDevice"/> instead.
/// </summary>
public static class Fadt
{
    public const string Signature = "FACP";
    public const byte Revision = 6;
    public const byte MinorRevision = 3;
    public const int Length = 276;

    /// <summary>RESET_REG_SUP: the reset register is valid.</summary>
    public const uint FlagResetRegisterSupported = 1u << 10;

    /// <summary>HW_REDUCED_ACPI: no fixed hardware, no SCI; sleep and reset registers stand in.</summary>
    public const uint FlagHardwareReducedAcpi = 1u << 20;

    /// <summary>IA-PC boot architecture: an 8042 is present (ours carries the legacy reset line).</summary>
    public const ushort BootArch8042 = 1 << 1;

    /// <summary>IA-PC boot architecture: do not probe VGA, there is none.</summary>
    public const ushort BootArchVgaNotPresent = 1 << 2;

    public static readonly GenericAddress ResetRegister = GenericAddress.IoByte(AcpiPmRegisters.ResetPort);
    public static readonly GenericAddress SleepControlRegister = GenericAddress.IoByte(AcpiPmRegisters.SleepControlPort);
    public static readonly GenericAddress SleepStatusRegister = GenericAddress.IoByte(AcpiPmRegisters.SleepStatusPort);

    public static byte[] Build(GuestAddress dsdt)
    {
        var writer = AcpiTableWriter.StartTable(Signature, Revision, AcpiIds.OemTableId(Signature));
        writer.U32(0); // 36 FIRMWARE_CTRL: no FACS, which hardware-reduced ACPI allows
        // 40 DSDT: the 32-bit field is for ACPI 1.0 readers; set it too while the table sits below 4 GiB.
        writer.U32(dsdt.Value <= uint.MaxValue ? (uint)dsdt.Value : 0);
        writer.U8(0); // 44 reserved
        writer.U8(0); // 45 Preferred_PM_Profile: unspecified
        writer.U16(0); // 46 SCI_INT: none in hardware-reduced mode
        writer.U32(0); // 48 SMI_CMD: no SMM, ACPI is always enabled
        writer.Zeros(4); // 52 ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        writer.Zeros(32); // 56 PM1a/b_EVT_BLK, PM1a/b_CNT_BLK, PM2_CNT_BLK, PM_TMR_BLK, GPE0/1_BLK
        writer.Zeros(8); // 88 PM1_EVT_LEN .. CST_CNT
        writer.Zeros(8); // 96 P_LVL2_LAT, P_LVL3_LAT, FLUSH_SIZE, FLUSH_STRIDE
        writer.Zeros(5); // 104 DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM, CENTURY
        writer.U16(BootArch8042 | BootArchVgaNotPresent); // 109 IAPC_BOOT_ARCH
        writer.U8(0); // 111 reserved
        writer.U32(FlagResetRegisterSupported | FlagHardwareReducedAcpi); // 112 Flags
        writer.Address(ResetRegister); // 116 RESET_REG
        writer.U8(AcpiPmRegisters.ResetValue); // 128 RESET_VALUE
        writer.U16(0); // 129 ARM_BOOT_ARCH
        writer.U8(MinorRevision); // 131 FADT Minor Version
        writer.U64(0); // 132 X_FIRMWARE_CTRL
        writer.U64(dsdt.Value); // 140 X_DSDT
        writer.Zeros(8 * GenericAddress.Size); // 148 X_PM1a_EVT_BLK .. X_GPE1_BLK: none
        writer.Address(SleepControlRegister); // 244 SLEEP_CONTROL_REG
        writer.Address(SleepStatusRegister); // 256 SLEEP_STATUS_REG
        writer.Ascii("SHARPVSR", 8); // 268 Hypervisor Vendor Identity
        return writer.FinishTable();
    }
}
