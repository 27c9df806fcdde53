using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Acpi;

/// <summary>The ACPI PM registers' saved state: u8 SLEEP_STATUS_REG.</summary>
public sealed partial class AcpiPmDevice : IDeviceState
{
    public string StateTag => "ACPM";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U8(_sleepStatus);
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var sleepStatus = reader.U8();
        if ((sleepStatus & ~AcpiPmRegisters.WakeStatus) != 0)
        {
            throw new StateException($"section ACPM: sleep status 0x{sleepStatus:x2} has bits other than WAK_STS");
        }

        reader.ExpectEnd();

        lock (_lock)
        {
            _sleepStatus = sleepStatus;
        }
    }
}
