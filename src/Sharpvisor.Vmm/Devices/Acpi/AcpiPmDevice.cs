using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Acpi;

/// <summary>
/// The registers a hardware-reduced ACPI FADT points at (see <see cref="AcpiPmRegisters"/>), registered in port
/// I/O space at <see cref="AcpiPmRegisters.PortBase"/> for <see cref="AcpiPmRegisters.RangeLength"/> bytes.
/// Writing SLP_EN with the <c>\_S5</c> SLP_TYP powers off; writing RESET_VALUE to RESET_REG resets.
/// A sleep request for any other state is not supported: the machine "wakes" at once by setting WAK_STS,
/// so a guest polling for it (as ACPICA does after the write) carries on instead of hanging.
/// </summary>
public sealed partial class AcpiPmDevice : IBusDevice
{
    private readonly Lock _lock = new();
    private readonly Action _powerOff;
    private readonly Action _reset;
    private byte _sleepStatus;

    /// <param name="powerOff">Called on the writing vCPU thread when the guest enters S5.</param>
    /// <param name="reset">Called on the writing vCPU thread when the guest writes RESET_VALUE to RESET_REG.</param>
    public AcpiPmDevice(Action powerOff, Action reset)
    {
        ArgumentNullException.ThrowIfNull(powerOff);
        ArgumentNullException.ThrowIfNull(reset);
        _powerOff = powerOff;
        _reset = reset;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            // Each register is a byte; a wider access covers the neighbouring registers, as on real hardware.
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = offset + (ulong)i == AcpiPmRegisters.SleepStatusOffset ? _sleepStatus : (byte)0;
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        var powerOff = false;
        var reset = false;
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                var value = data[i];
                switch (offset + (ulong)i)
                {
                    case AcpiPmRegisters.SleepControlOffset when (value & AcpiPmRegisters.SleepEnable) != 0:
                        var sleepType = (value & AcpiPmRegisters.SleepTypeMask) >> AcpiPmRegisters.SleepTypeShift;
                        if (sleepType == AcpiPmRegisters.S5SleepType)
                        {
                            powerOff = true;
                        }
                        else
                        {
                            _sleepStatus |= AcpiPmRegisters.WakeStatus;
                        }

                        break;
                    case AcpiPmRegisters.SleepStatusOffset:
                        _sleepStatus &= (byte)~(value & AcpiPmRegisters.WakeStatus);
                        break;
                    case AcpiPmRegisters.ResetOffset when value == AcpiPmRegisters.ResetValue:
                        reset = true;
                        break;
                    default:
                        break;
                }
            }
        }

        // Outside the lock: the callbacks stop the machine and may take their own locks.
        if (powerOff)
        {
            _powerOff();
        }
        else if (reset)
        {
            _reset();
        }
    }
}
