using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>The 8042's saved state: a restored controller answers as the saved one, and hostile sections are refused.</summary>
public sealed class I8042StateTests
{
    private const ushort DataPort = 0x60;
    private const ushort CommandPort = 0x64;

    private readonly Controller _source = new();

    public I8042StateTests()
    {
        // A command byte of its own, a byte from the aux port waiting, and a write to the output port half done.
        _source.Bus.Out8(CommandPort, 0x60);
        _source.Bus.Out8(DataPort, 0x47);
        _source.Bus.Out8(CommandPort, 0xd3);
        _source.Bus.Out8(DataPort, 0x99);
        _source.Bus.Out8(CommandPort, 0xd1);
    }

    [Fact]
    public void ARestoredControllerAnswersAsTheSavedOne()
    {
        var restored = new Controller();

        restored.Device.RestoreState(Save(_source.Device));

        Assert.Equal(0x3d, restored.Bus.In8(CommandPort)); // output full from aux, system flag, last write a command
        Assert.Equal(0x99, restored.Bus.In8(DataPort));
        Assert.Equal(0x1c, restored.Bus.In8(CommandPort));

        // The pending 0xd1 takes this byte for the output port, whose reset line it pulls low.
        restored.Bus.Out8(DataPort, 0x02);
        Assert.Equal(1, restored.Resets);
        restored.Bus.Out8(CommandPort, 0xd0);
        Assert.Equal(0x02, restored.Bus.In8(DataPort));
        restored.Bus.Out8(CommandPort, 0x20);
        Assert.Equal(0x47, restored.Bus.In8(DataPort));
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(new Controller().Device, Save(_source.Device));

    [Theory]
    [InlineData(3, 0, "the output buffer is marked as from the aux port but is empty")]
    [InlineData(5, 2, "2 is not a boolean")]
    [InlineData(6, 0x61, "command 0x61 takes no parameter byte")]
    public void FieldsOutOfRangeAreRefused(int offset, byte value, string expected) =>
        AssertRefused(new Controller().Device, WithU8(Save(_source.Device), offset, value), expected);

    private sealed class Controller
    {
        private int _resets;

        public Controller()
        {
            Device = new I8042Controller(() => _resets++);
            Bus.Register(DataPort, I8042Controller.RangeLength, Device);
        }

        public I8042Controller Device { get; }

        public IoBus Bus { get; } = new("pio");

        public int Resets => _resets;
    }
}
