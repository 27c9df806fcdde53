using Sharpvisor.Vmm.Devices.Pci;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

public sealed class MsiXTableTests
{
    private const ushort Enable = 1 << 15;
    private const ushort FunctionMask = 1 << 14;

    private readonly PciTestMachine _machine = new();
    private readonly RecordingMsiSink _sink = new();
    private readonly TestFunction _function;
    private readonly int _slot;
    private readonly ulong _table;
    private readonly ulong _pba;

    public MsiXTableTests()
    {
        _function = new TestFunction(_sink);
        _slot = _machine.Root.AddDevice(_function);
        var bar0 = _machine.CamRead(_slot, 0x10) & ~0xFu;
        _table = bar0 + TestFunction.TableOffset;
        _pba = bar0 + TestFunction.PbaOffset;
        SetBusMaster(true); // a driver turns it on before MSIs can be written
    }

    private void SetBusMaster(bool on)
    {
        var command = _machine.CamRead(_slot, PciConfigSpace.CommandOffset, 2);
        _machine.CamWrite(_slot, PciConfigSpace.CommandOffset, on ? command | PciConfigSpace.CommandBusMaster : command & ~(uint)PciConfigSpace.CommandBusMaster, width: 2);
    }

    private int Control => _function.MsiX.CapabilityOffset + 2;

    [Fact]
    public void EntriesStartMaskedAndMsiXStartsDisabled()
    {
        for (var v = 0; v < TestFunction.Vectors; v++)
        {
            Assert.Equal(1UL, _machine.MmioRead(Entry(v) + 12, 4));
        }

        Assert.False(_function.MsiX.Enabled);
        Assert.Equal(MsiXDelivery.Disabled, _function.MsiX.Notify(0));
        Assert.Empty(_sink.Messages);
    }

    [Fact]
    public void AProgrammedUnmaskedVectorDeliversItsAddressAndData()
    {
        Program(3, 0xFEE0_1000, 0x4041);
        _machine.CamWrite(_slot, Control, Enable, width: 2);

        Assert.Equal(MsiXDelivery.Delivered, _function.MsiX.Notify(3));

        Assert.Equal([(0xFEE0_1000UL, 0x4041u)], _sink.Messages);
        Assert.Equal(0xFEE0_1000UL, _machine.MmioRead(Entry(3), 4));
        Assert.Equal(0x4041UL, _machine.MmioRead(Entry(3) + 8, 4));
    }

    [Fact]
    public void WithBusMasterOffAVectorWaitsPendingAndGoesOutWhenItIsBackOn()
    {
        Program(2, 0xFEE0_2000, 0x22);
        _machine.CamWrite(_slot, Control, Enable, width: 2);
        SetBusMaster(false);

        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(2));
        Assert.Empty(_sink.Messages); // an MSI is a memory write: none while the function may not write memory
        Assert.True(_function.MsiX.IsPending(2));

        SetBusMaster(true);
        Assert.Equal([(0xFEE0_2000UL, 0x22u)], _sink.Messages);
        Assert.False(_function.MsiX.IsPending(2));
    }

    [Fact]
    public void AQwordWriteProgramsAddressLowAndHighTogether()
    {
        _machine.MmioWrite(Entry(1), 0x0000_0001_FEE0_0003, 8); // the low two address bits are not writable
        _machine.MmioWrite(Entry(1) + 8, 0x0000_0000_0000_0031, 8); // data 0x31, vector control 0: unmasked
        _machine.EcamWrite(_slot, Control, Enable, width: 2);

        _function.MsiX.Notify(1);

        Assert.Equal([(0x1_FEE0_0000UL, 0x31u)], _sink.Messages);
        Assert.Equal(0x0000_0001_FEE0_0000UL, _machine.MmioRead(Entry(1), 8));
    }

    [Fact]
    public void AMaskedVectorIsPendingAndDeliveredOnceOnUnmask()
    {
        Program(5, 0xFEE0_0000, 0x55, masked: true);
        _machine.CamWrite(_slot, Control, Enable, width: 2);

        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(5));
        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(5));
        Assert.Empty(_sink.Messages);
        Assert.Equal(1UL << 5, _machine.MmioRead(_pba, 8));
        Assert.Equal(1UL << 5, _machine.MmioRead(_pba, 4));
        Assert.Equal(0UL, _machine.MmioRead(_pba + 4, 4));

        _machine.MmioWrite(Entry(5) + 12, 0, 4);

        Assert.Equal([(0xFEE0_0000UL, 0x55u)], _sink.Messages);
        Assert.Equal(0UL, _machine.MmioRead(_pba, 8));
        _machine.MmioWrite(Entry(5) + 12, 0, 4); // unmasking again sends nothing more
        Assert.Single(_sink.Messages);
    }

    [Fact]
    public void FunctionMaskHoldsEveryVectorUntilCleared()
    {
        Program(0, 0xFEE0_0000, 0x20);
        Program(7, 0xFEE0_2000, 0x27);
        _machine.CamWrite(_slot, Control, Enable | FunctionMask, width: 2);

        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(0));
        Assert.Equal(MsiXDelivery.Pending, _function.MsiX.Notify(7));
        Assert.True(_function.MsiX.FunctionMasked);
        Assert.Empty(_sink.Messages);
        Assert.Equal((1UL << 7) | 1, _machine.MmioRead(_pba, 8));

        _machine.CamWrite(_slot, Control, Enable, width: 2);

        Assert.Equal([(0xFEE0_0000UL, 0x20u), (0xFEE0_2000UL, 0x27u)], _sink.Messages);
        Assert.Equal(0UL, _machine.MmioRead(_pba, 8));
    }

    [Fact]
    public void PendingVectorsWaitForEnableAndTableSizeIsReadOnly()
    {
        Program(2, 0xFEE0_0000, 0x22, masked: true);
        _machine.CamWrite(_slot, Control, Enable, width: 2);
        _function.MsiX.Notify(2);
        _machine.CamWrite(_slot, Control, 0x07FF, width: 2); // disable, try to grow the table
        Assert.Equal((uint)(TestFunction.Vectors - 1), _machine.CamRead(_slot, Control, width: 2));

        _machine.MmioWrite(Entry(2) + 12, 0, 4); // unmask while disabled: stays pending
        Assert.Empty(_sink.Messages);
        Assert.True(_function.MsiX.IsPending(2));

        _machine.CamWrite(_slot, Control, Enable, width: 2);
        Assert.Equal([(0xFEE0_0000UL, 0x22u)], _sink.Messages);
        Assert.False(_function.MsiX.IsPending(2));
    }

    [Fact]
    public void HostileTableAndPbaAccessesAreIgnored()
    {
        Program(0, 0xFEE0_0000, 0x30);
        _machine.MmioWrite(Entry(0) + 1, 0xFFFF_FFFF, 4); // misaligned
        _machine.MmioWrite(Entry(0), 0xFF, 1); // byte
        _machine.MmioWrite(Entry(0) + 8, 0xFFFF, 2); // word
        _machine.MmioWrite(_pba, ulong.MaxValue, 8); // PBA is read-only
        _machine.MmioWrite(_table + (TestFunction.Vectors * 16), ulong.MaxValue, 8); // past the table
        _machine.MmioWrite(Entry(0) + 12, 0xFFFF_FFFE, 4); // reserved vector control bits

        Assert.Equal(0xFEE0_0000UL, _machine.MmioRead(Entry(0), 4));
        Assert.Equal(0x30UL, _machine.MmioRead(Entry(0) + 8, 4));
        Assert.Equal(0UL, _machine.MmioRead(Entry(0) + 12, 4));
        Assert.Equal(0UL, _machine.MmioRead(_pba, 8));
        Assert.Equal(0UL, _machine.MmioRead(Entry(0) + 2, 4));
        Assert.Equal(0UL, _machine.MmioRead(Entry(0), 2));
        Assert.Equal(MsiXDelivery.Disabled, _function.MsiX.Notify(-1));
        Assert.Equal(MsiXDelivery.Disabled, _function.MsiX.Notify(TestFunction.Vectors));

        var random = new Random(99);
        Span<byte> data = stackalloc byte[8];
        for (var i = 0; i < 20_000; i++)
        {
            var width = 1 << random.Next(4);
            var offset = (ulong)random.Next(0x2100);
            random.NextBytes(data);
            if (random.Next(2) == 0)
            {
                _function.MsiX.Table.Write(offset, data[..width]);
                _function.MsiX.Pba.Write(offset, data[..width]);
            }
            else
            {
                _function.MsiX.Table.Read(offset, data[..width]);
                _function.MsiX.Pba.Read(offset, data[..width]);
            }

            if (i % 7 == 0)
            {
                _function.MsiX.Notify(random.Next(TestFunction.Vectors));
            }
        }
    }

    private ulong Entry(int vector) => _table + ((ulong)vector * 16);

    private void Program(int vector, ulong address, uint data, bool masked = false)
    {
        _machine.MmioWrite(Entry(vector), (uint)address, 4);
        _machine.MmioWrite(Entry(vector) + 4, (uint)(address >> 32), 4);
        _machine.MmioWrite(Entry(vector) + 8, data, 4);
        _machine.MmioWrite(Entry(vector) + 12, masked ? 1u : 0u, 4);
    }
}
