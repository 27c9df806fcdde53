using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Tests.Devices.Legacy;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Acpi;

/// <summary>The ACPI PM registers' saved state: a pending wake status survives, and hostile sections are refused.</summary>
public sealed class AcpiPmStateTests
{
    private readonly IoBus _sourceBus = new("pio");
    private readonly AcpiPmDevice _source = NewDevice();

    public AcpiPmStateTests()
    {
        _sourceBus.Register(AcpiPmRegisters.PortBase, AcpiPmRegisters.RangeLength, _source);
        _sourceBus.Out8(AcpiPmRegisters.SleepControlPort, AcpiPmRegisters.SleepCommand(3)); // S3 "wakes" at once
    }

    [Fact]
    public void ARestoredDeviceStillReportsTheWake()
    {
        var bus = new IoBus("pio");
        var restored = NewDevice();
        bus.Register(AcpiPmRegisters.PortBase, AcpiPmRegisters.RangeLength, restored);

        restored.RestoreState(Save(_source));

        Assert.Equal(AcpiPmRegisters.WakeStatus, bus.In8(AcpiPmRegisters.SleepStatusPort));
        bus.Out8(AcpiPmRegisters.SleepStatusPort, AcpiPmRegisters.WakeStatus);
        Assert.Equal(0, bus.In8(AcpiPmRegisters.SleepStatusPort));
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(NewDevice(), Save(_source));

    [Fact]
    public void BitsOtherThanWakeStatusAreRefused() =>
        AssertRefused(NewDevice(), WithU8(Save(_source), 0, 0x81), "sleep status 0x81 has bits other than WAK_STS");

    private static AcpiPmDevice NewDevice() =>
        new(() => Assert.Fail("powered off"), () => Assert.Fail("reset"));
}
