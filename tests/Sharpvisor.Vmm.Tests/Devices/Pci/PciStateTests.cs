using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Pci;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

/// <summary>
/// Config space and the MSI-X table saved and put into a fresh function: what the guest programmed comes back, what
/// it cannot program must match, and a hostile table is refused before anything changes.
/// </summary>
public sealed class PciStateTests
{
    private const int EnableAndMask = 0xC000;

    private readonly PciTestMachine _machine = new();
    private readonly RecordingMsiSink _sink = new();
    private readonly TestFunction _function;
    private readonly int _slot;

    public PciStateTests()
    {
        _function = new TestFunction(_sink);
        _slot = _machine.Root.AddDevice(_function);
    }

    private ulong Bar0 => _machine.EcamRead(_slot, PciConfigSpace.BarOffset(0)) & ~0xFUL;

    private static byte[] Saved(Action<StatePayload> save)
    {
        var payload = new StatePayload();
        save(payload);
        return payload.WrittenSpan.ToArray();
    }

    private static Action ReadTable(MsiXTable table, byte[] bytes)
    {
        var reader = new StatePayloadReader(bytes, "TEST");
        var apply = table.ReadState(ref reader, "TEST");
        reader.ExpectEnd();
        return apply;
    }

    private static Action ReadConfig(PciConfigSpace config, byte[] bytes)
    {
        var reader = new StatePayloadReader(bytes, "TEST");
        var apply = config.ReadState(ref reader, "TEST");
        reader.ExpectEnd();
        return apply;
    }

    [Fact]
    public void WhatTheGuestProgrammedComesBackAndAMaskedVectorStaysPending()
    {
        // The guest programs vector 3, leaves it masked, enables MSI-X; the device raises it: pending.
        var entry = Bar0 + TestFunction.TableOffset + (3 * MsiXTable.EntrySize);
        _machine.MmioWrite(entry, 0xFEE0_1000, 4);
        _machine.MmioWrite(entry + 8, 0x4433, 4);
        _machine.EcamWrite(_slot, _function.MsiX.CapabilityOffset + 2, 0x8000, 2);
        _machine.EcamWrite(_slot, PciConfigSpace.InterruptLineOffset, 0x0B, 1);
        _machine.EcamWrite(_slot, PciConfigSpace.CommandOffset, PciConfigSpace.CommandMemorySpace | PciConfigSpace.CommandBusMaster, 2);
        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(3));
        var config = Saved(_function.Config.SaveState);
        var table = Saved(_function.MsiX.SaveState);

        var machine = new PciTestMachine();
        var sink = new RecordingMsiSink();
        var fresh = new TestFunction(sink);
        var slot = machine.Root.AddDevice(fresh);
        ReadConfig(fresh.Config, config)();
        ReadTable(fresh.MsiX, table)();

        Assert.True(fresh.MsiX.Enabled);
        Assert.True(fresh.MsiX.IsPending(3));
        Assert.True(fresh.MsiX.IsMasked(3));
        Assert.Equal(0x0Bu, machine.EcamRead(slot, PciConfigSpace.InterruptLineOffset, 1));
        var freshEntry = (machine.EcamRead(slot, PciConfigSpace.BarOffset(0)) & ~0xFUL) + TestFunction.TableOffset + (3 * MsiXTable.EntrySize);
        Assert.Equal(0x4433UL, machine.MmioRead(freshEntry + 8, 4));
        Assert.Empty(sink.Messages);
        machine.MmioWrite(freshEntry + 12, 0, 4); // unmasked: the pending message goes out
        Assert.Equal([(0xFEE0_1000UL, 0x4433u)], sink.Messages);
    }

    [Fact]
    public void ConfigSpaceOfAnotherKindOfFunctionIsRefused()
    {
        var bridge = Saved(new PciHostBridge().Config.SaveState);

        var e = Assert.Throws<StateException>(() => ReadConfig(_function.Config, bridge));

        Assert.Equal("section TEST: config space byte 0x000 is 0x86 where this function has 0xf4 in bits the guest cannot write: the section is of another kind of function", e.Message);
    }

    [Fact]
    public void GuestWritableBitsAreAllThatMayDiffer()
    {
        _machine.EcamWrite(_slot, _function.MsiX.CapabilityOffset + 2, EnableAndMask, 2);
        var config = Saved(_function.Config.SaveState);
        var cap = _function.MsiX.CapabilityOffset;

        // The table size in message control is not the guest's: a function with another is another function.
        config[4 + cap + 2] ^= 1;
        var e = Assert.Throws<StateException>(() => ReadConfig(new TestFunction(_sink).Config, config));
        Assert.Contains($"config space byte 0x{cap + 2:x3}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, 0xFEE0_0002u, "MSI-X vector 0 dword 0 is 0xfee00002, which sets bits the table keeps clear")]
    [InlineData(4 + (5 * 16) + 12, 0x8000_0001u, "MSI-X vector 5 dword 3 is 0x80000001")]
    [InlineData(0, 16u, "an MSI-X table of 16 vectors, this function's has 8")]
    public void HostileTablesAreRefused(int offset, uint value, string expected)
    {
        var table = Saved(_function.MsiX.SaveState);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(offset), value);

        var e = Assert.Throws<StateException>(() => ReadTable(_function.MsiX, table));

        Assert.StartsWith($"section TEST: {expected}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PendingBitsPastTheTableAreRefusedAndNothingChanges()
    {
        Assert.Equal(MsiXDelivery.Disabled, _function.MsiX.Notify(1));
        var table = Saved(_function.MsiX.SaveState);
        BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(4 + (TestFunction.Vectors * 16)), 1UL << TestFunction.Vectors);

        var e = Assert.Throws<StateException>(() => ReadTable(_function.MsiX, table));

        Assert.Contains("MSI-X pending bits 0x0000000000000100 name vectors past the table's 8", e.Message, StringComparison.Ordinal);
        Assert.Equal(Saved(_function.MsiX.SaveState)[..^8], table[..^8]);
        Assert.False(_function.MsiX.IsPending(TestFunction.Vectors - 1));
    }
}
