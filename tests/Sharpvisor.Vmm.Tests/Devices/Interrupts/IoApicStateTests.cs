using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Interrupts;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Interrupts;

/// <summary>The I/O APIC's saved state: what a restored one delivers, and every hostile section refused.</summary>
public sealed class IoApicStateTests
{
    private const ulong Select = 0x00;
    private const ulong Window = 0x10;
    private const uint Level = 1u << 15;
    private const uint RemoteIrr = 1u << 14;
    private const uint Masked = 1u << 16;

    private const int EdgePin = 3;
    private const byte EdgeVector = 0x31;
    private const int LevelPin = 9;
    private const byte LevelVector = 0x41;

    private sealed class Sink : IMsiSink
    {
        public List<(ulong Address, uint Data)> Messages { get; } = [];

        public List<IReadOnlyList<(uint Pin, ulong Address, uint Data)>> Routes { get; } = [];

        public void SignalMsi(ulong address, uint data) => Messages.Add((address, data));

        public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes) => Routes.Add([.. routes]);
    }

    private readonly Sink _sourceSink = new();
    private readonly IoApic _source;

    public IoApicStateTests()
    {
        // A guest's setup: its ID, an edge pin to CPU 2, a level pin to CPU 1 that has fired and awaits its EOI.
        _source = new IoApic(_sourceSink);
        WriteRegister(_source, 0x00, 0x0300_0000);
        WriteRegister(_source, 0x10 + (2 * EdgePin) + 1, 0x0200_0000);
        WriteRegister(_source, 0x10 + (2 * EdgePin), EdgeVector);
        WriteRegister(_source, 0x10 + (2 * LevelPin) + 1, 0x0100_0000);
        WriteRegister(_source, 0x10 + (2 * LevelPin), LevelVector | Level);
        _source.SetLevel(LevelPin, true);
        Write(_source, Select, 0x10 + (2 * LevelPin));
        Assert.Single(_sourceSink.Messages);
    }

    [Fact]
    public void ARestoredIoApicReadsAndDeliversAsTheSavedOne()
    {
        var sink = new Sink();
        var restored = new IoApic(sink);

        restored.RestoreState(Save(_source));

        // The level pin's route reaches KVM again, so its EOIs come back to us.
        Assert.Equal([(uint)LevelPin], Assert.Single(sink.Routes).Select(r => r.Pin));
        Assert.Equal(0x10u + (2 * LevelPin), Read(restored, Select));
        Assert.Equal(LevelVector | Level | RemoteIrr, Read(restored, Window));
        Assert.Equal(0x0300_0000u, ReadRegister(restored, 0x00));
        Assert.Equal(Masked, ReadRegister(restored, 0x10 + (2 * 5)));

        _sourceSink.Messages.Clear();
        foreach (var ioApic in new[] { _source, restored })
        {
            ioApic.SetLevel(EdgePin, true);
            ioApic.SetLevel(LevelPin, true); // still high and awaiting its EOI: nothing
            ioApic.EndOfInterrupt(LevelVector); // the line is high: it fires again
        }

        Assert.Equal([(0xFEE0_2000UL, (uint)EdgeVector), (0xFEE0_1000UL, LevelVector | 0xC000u)], sink.Messages);
        Assert.Equal(_sourceSink.Messages, sink.Messages);
    }

    [Fact]
    public void DamagedSectionsAreRefused() => AssertDamageRefused(new IoApic(new Sink()), Save(_source));

    [Theory]
    [InlineData(0, 0x0300_0001u, "ID register 0x03000001")]
    [InlineData(4, 0x100u, "register select 0x100")]
    [InlineData(8 + (8 * 7), 1u << 12, "redirection entry 7 0x0000000000001000 has read-only bits")]
    public void FieldsOutOfRangeAreRefused(int offset, uint value, string expected) =>
        AssertRefused(new IoApic(new Sink()), WithU32(Save(_source), offset, value), expected);

    [Fact]
    public void ALineLevelThatIsNotABooleanIsRefused() =>
        AssertRefused(new IoApic(new Sink()), WithU8(Save(_source), 8 + (8 * IoApic.PinCount) + 2, 2), "2 is not a boolean");

    private static void Write(IoApic ioApic, ulong offset, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        ioApic.Write(offset, bytes);
    }

    private static uint Read(IoApic ioApic, ulong offset)
    {
        Span<byte> bytes = stackalloc byte[4];
        ioApic.Read(offset, bytes);
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }

    private static void WriteRegister(IoApic ioApic, uint register, uint value)
    {
        Write(ioApic, Select, register);
        Write(ioApic, Window, value);
    }

    private static uint ReadRegister(IoApic ioApic, uint register)
    {
        Write(ioApic, Select, register);
        return Read(ioApic, Window);
    }
}
