using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Tests.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Acpi;

public class AcpiPmDeviceTests
{
    private const ushort SleepControl = 0x600;
    private const ushort SleepStatus = 0x601;
    private const ushort Reset = 0x602;

    private readonly IoBus _bus = new("pio");
    private int _powerOffs;
    private int _resets;

    public AcpiPmDeviceTests() =>
        _bus.Register(AcpiPmRegisters.PortBase, AcpiPmRegisters.RangeLength, new AcpiPmDevice(() => _powerOffs++, () => _resets++));

    [Fact]
    public void PortsMatchWhatTheFadtDescribes()
    {
        Assert.Equal(SleepControl, AcpiPmRegisters.SleepControlPort);
        Assert.Equal(SleepStatus, AcpiPmRegisters.SleepStatusPort);
        Assert.Equal(Reset, AcpiPmRegisters.ResetPort);
        Assert.Equal(0x34, AcpiPmRegisters.SleepCommand(5)); // SLP_TYP 5 << 2 | SLP_EN
    }

    [Fact]
    public void SleepEnableWithTheS5TypePowersOff()
    {
        // What ACPICA's hardware-reduced sleep writes for S5: SLP_TYP << 2 | SLP_EN.
        _bus.Out8(SleepControl, (5 << 2) | 0x20);

        Assert.Equal(1, _powerOffs);
        Assert.Equal(0, _resets);
    }

    [Theory]
    [InlineData(5 << 2)] // SLP_TYP right but no SLP_EN
    [InlineData(0x20)] // SLP_EN with SLP_TYP 0
    [InlineData((3 << 2) | 0x20)] // S3-like type: not supported
    [InlineData((7 << 2) | 0x20)]
    [InlineData(0x05)] // the S5 value unshifted
    [InlineData(0xFF & ~(7 << 2))] // every other bit
    public void OtherSleepControlValuesDoNotPowerOff(byte value)
    {
        _bus.Out8(SleepControl, value);

        Assert.Equal(0, _powerOffs);
        Assert.Equal(0, _resets);
    }

    [Fact]
    public void AnUnsupportedSleepWakesAtOnceSoThePollingGuestCarriesOn()
    {
        Assert.Equal(0, _bus.In8(SleepStatus));

        _bus.Out8(SleepStatus, 0x80); // ACPICA clears WAK_STS first
        _bus.Out8(SleepControl, (3 << 2) | 0x20);

        Assert.Equal(0x80, _bus.In8(SleepStatus));
        _bus.Out8(SleepStatus, 0x7F); // writing zero to WAK_STS leaves it
        Assert.Equal(0x80, _bus.In8(SleepStatus));
        _bus.Out8(SleepStatus, 0x80); // write 1 to clear
        Assert.Equal(0, _bus.In8(SleepStatus));
        Assert.Equal(0, _powerOffs);
    }

    [Fact]
    public void TheResetValueResets()
    {
        _bus.Out8(Reset, AcpiPmRegisters.ResetValue);

        Assert.Equal(1, _resets);
        Assert.Equal(0, _powerOffs);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x02)]
    [InlineData(0x06)]
    [InlineData(0xFE)]
    [InlineData(0xFF)]
    public void OtherResetValuesAreIgnored(byte value)
    {
        _bus.Out8(Reset, value);

        Assert.Equal(0, _resets);
    }

    [Fact]
    public void TheResetValueOnAnotherRegisterDoesNotReset()
    {
        _bus.Out8(SleepControl, AcpiPmRegisters.ResetValue);
        _bus.Out8(SleepStatus, AcpiPmRegisters.ResetValue);
        _bus.Out8(0x603, AcpiPmRegisters.ResetValue);

        Assert.Equal(0, _resets);
        Assert.Equal(0, _powerOffs);
    }

    [Fact]
    public void AWideWriteReachesEachByteRegister()
    {
        // Bytes 0x600..0x603 in one access: the reset register (byte 2) gets the reset value.
        _bus.Out32(SleepControl, (uint)AcpiPmRegisters.ResetValue << 16);

        Assert.Equal(1, _resets);
    }

    [Fact]
    public void ReadsOfControlAndResetRegistersAreZero()
    {
        _bus.Out8(SleepControl, 5 << 2);

        Assert.Equal(0, _bus.In8(SleepControl));
        Assert.Equal(0, _bus.In8(Reset));
    }

    [Fact]
    public void CallbacksAreRequired()
    {
        Assert.Throws<ArgumentNullException>(() => new AcpiPmDevice(null!, () => { }));
        Assert.Throws<ArgumentNullException>(() => new AcpiPmDevice(() => { }, null!));
    }
}
