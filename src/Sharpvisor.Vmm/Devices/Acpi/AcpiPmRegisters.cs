namespace Sharpvisor.Vmm.Devices.Acpi;

/// <summary>
/// Where the hardware-reduced ACPI registers live and what their bits mean: the one place both
/// <see cref="AcpiPmDevice"/> and the FADT/DSDT builders read, so the tables always describe the device.
/// Each register is one byte wide, in port I/O space.
/// <code>
/// 0x600  SLEEP_CONTROL_REG  write: SLP_TYP in bits 2-4, SLP_EN in bit 5
/// 0x601  SLEEP_STATUS_REG   bit 7 WAK_STS, write 1 to clear
/// 0x602  RESET_REG          write ResetValue to reset the machine
/// 0x603  reserved
/// </code>
/// </summary>
public static class AcpiPmRegisters
{
    /// <summary>First port of the block; free on a PC without a chipset PM block.</summary>
    public const ushort PortBase = 0x600;

    public const ulong RangeLength = 4;

    public const ulong SleepControlOffset = 0;
    public const ulong SleepStatusOffset = 1;
    public const ulong ResetOffset = 2;

    public const ushort SleepControlPort = PortBase + (ushort)SleepControlOffset;
    public const ushort SleepStatusPort = PortBase + (ushort)SleepStatusOffset;
    public const ushort ResetPort = PortBase + (ushort)ResetOffset;

    /// <summary>Written to RESET_REG (the FADT's RESET_VALUE) to reset the machine; any other value is ignored.</summary>
    public const byte ResetValue = 0x01;

    /// <summary>SLP_TYP for soft-off: the first element of the DSDT's <c>\_S5</c> package. 5 to match the state's name.</summary>
    public const byte S5SleepType = 5;

    public const int SleepTypeShift = 2;
    public const byte SleepTypeMask = 0x07 << SleepTypeShift;
    public const byte SleepEnable = 0x20;
    public const byte WakeStatus = 0x80;

    /// <summary>The byte a guest writes to SLEEP_CONTROL_REG to enter <paramref name="sleepType"/>.</summary>
    public static byte SleepCommand(byte sleepType) => (byte)(((sleepType << SleepTypeShift) & SleepTypeMask) | SleepEnable);
}
