using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>Port B's saved state: its written bits and refresh toggle read back the same, and hostile sections are refused.</summary>
public sealed class SystemControlPortBStateTests : IDisposable
{
    private const ushort PortB = 0x61;

    private readonly Machine _source = new();
    private readonly Machine _target = new();

    public SystemControlPortBStateTests()
    {
        _source.Bus.Out8(PortB, 0x0e);
        _ = _source.Bus.In8(PortB);
    }

    public void Dispose()
    {
        _source.Pit.Dispose();
        _target.Pit.Dispose();
    }

    [Fact]
    public void ARestoredPortBReadsAsTheSavedOne()
    {
        _target.Device.RestoreState(Save(_source.Device));

        for (var read = 0; read < 3; read++)
        {
            Assert.Equal(_source.Bus.In8(PortB), _target.Bus.In8(PortB));
        }

        Assert.Equal(0x0e, _target.Bus.In8(PortB) & 0x0f);
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(_target.Device, Save(_source.Device));

    [Theory]
    [InlineData(0, 0x10, "written bits 0x10 include read-only ones")]
    [InlineData(1, 2, "2 is not a boolean")]
    public void FieldsOutOfRangeAreRefused(int offset, byte value, string expected) =>
        AssertRefused(_target.Device, WithU8(Save(_source.Device), offset, value), expected);

    private sealed class Machine
    {
        public Machine()
        {
            Pit = new Pit8254(new RecordingInterruptLine(), new ManualClock(new DateTimeOffset(2024, 3, 9, 13, 45, 27, TimeSpan.Zero)));
            Device = new SystemControlPortB(Pit);
            Bus.Register(PortB, SystemControlPortB.RangeLength, Device);
        }

        public Pit8254 Pit { get; }

        public SystemControlPortB Device { get; }

        public IoBus Bus { get; } = new("pio");
    }
}
