using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Devices.Pci;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

public sealed class PciRootBusTests
{
    private readonly PciTestMachine _machine = new();
    private readonly RecordingMsiSink _sink = new();
    private readonly TestFunction _function;
    private readonly int _slot;

    public PciRootBusTests()
    {
        _function = new TestFunction(_sink);
        _slot = _machine.Root.AddDevice(_function);
    }

    [Fact]
    public void EnumerationThroughPortsAndEcamSeesTheSameDevices()
    {
        Assert.Equal(1, _slot);
        for (var slot = 0; slot < PciRootBus.SlotCount; slot++)
        {
            for (var register = 0; register < 256; register += 4)
            {
                Assert.Equal(_machine.CamRead(slot, register), _machine.EcamRead(slot, register));
            }
        }

        Assert.Equal(0x0D57_8086u, _machine.CamRead(0, 0));
        Assert.Equal(0x0600_0000u, _machine.CamRead(0, 8));
        Assert.Equal(((uint)TestFunction.Device << 16) | TestFunction.Vendor, _machine.EcamRead(_slot, 0));
        Assert.Equal((TestFunction.Class << 8) | 1, _machine.EcamRead(_slot, 8));
        Assert.Equal(0x0002_1AF4u, _machine.CamRead(_slot, 0x2C));
        Assert.Equal(0u, _machine.CamRead(_slot, 0x0E, width: 1)); // header type 0, single function
        Assert.Equal(1u, _machine.CamRead(_slot, 0x3D, width: 1)); // INTA#
    }

    [Fact]
    public void AbsentDevicesFunctionsAndBusesReadAllOnes()
    {
        Assert.Equal(0xFFFF_FFFFu, _machine.CamRead(7, 0));
        Assert.Equal(0xFFFF_FFFFu, _machine.CamRead(_slot, 0, function: 1));
        Assert.Equal(0xFFFF_FFFFu, _machine.CamRead(_slot, 0, bus: 1));
        Assert.Equal(0xFFFFu, _machine.EcamRead(7, 2, width: 2));
        Assert.Equal(0xFFFF_FFFFu, _machine.EcamRead(_slot, 0, function: 3));

        // With the enable bit clear the data port is not a config access.
        _machine.PortWrite32(PciRootBus.ConfigAddressPort, PciTestMachine.CamAddress(0, _slot, 0, 0) & 0x7FFF_FFFF);
        Span<byte> data = stackalloc byte[4];
        _machine.PortIo.Read(PciRootBus.ConfigDataPort, data);
        Assert.Equal(0xFFFF_FFFFu, BitConverter.ToUInt32(data));
    }

    [Fact]
    public void DataPortAnswersBytesAndWordsAtTheirOffsets()
    {
        Assert.Equal(0x86u, _machine.CamRead(0, 0, width: 1));
        Assert.Equal(0x80u, _machine.CamRead(0, 1, width: 1));
        Assert.Equal(0x0D57u, _machine.CamRead(0, 2, width: 2));
        Assert.Equal(0x0Du, _machine.CamRead(0, 3, width: 1));
        Assert.Equal(TestFunction.Device, (ushort)_machine.CamRead(_slot, 2, width: 2));

        // The address register reads back what was written, minus reserved bits.
        _machine.PortWrite32(PciRootBus.ConfigAddressPort, 0xFFFF_FFFF);
        Span<byte> data = stackalloc byte[4];
        _machine.PortIo.Read(PciRootBus.ConfigAddressPort, data);
        Assert.Equal(0x80FF_FFFCu, BitConverter.ToUInt32(data));
    }

    [Fact]
    public void ReadOnlyFieldsStayAndStatusErrorBitsClearOnWritingOne()
    {
        foreach (var register in new[] { 0x00, 0x08, 0x0C, 0x2C, 0x34, 0x3C })
        {
            var before = _machine.CamRead(_slot, register);
            _machine.CamWrite(_slot, register, 0xFFFF_FFFF);
            var after = _machine.CamRead(_slot, register);
            var writable = register switch { 0x0C => 0x0000_FFFFu, 0x3C => 0x0000_00FFu, _ => 0u };
            Assert.Equal(before & ~writable, after & ~writable);
        }

        // Status bit 4 (capabilities) is read-only; error bits are RW1C.
        _function.Config.SetU16(PciConfigSpace.StatusOffset, (ushort)(_function.Config.ReadU16(PciConfigSpace.StatusOffset) | 0x8000 | 0x2000));
        _machine.EcamWrite(_slot, PciConfigSpace.StatusOffset, 0x2000, width: 2);
        var status = _machine.EcamRead(_slot, PciConfigSpace.StatusOffset, width: 2);
        Assert.Equal(0x8000u | PciConfigSpace.StatusCapabilitiesList, status);
        _machine.EcamWrite(_slot, PciConfigSpace.StatusOffset, 0xFFFF, width: 2);
        Assert.Equal((uint)PciConfigSpace.StatusCapabilitiesList, _machine.EcamRead(_slot, PciConfigSpace.StatusOffset, width: 2));

        // A dword write to the command/status pair sets command bits without touching the status.
        _machine.CamWrite(_slot, PciConfigSpace.CommandOffset, 0xFFFF_0000 | PciConfigSpace.CommandBusMaster | PciConfigSpace.CommandMemorySpace);
        Assert.Equal((uint)(PciConfigSpace.CommandBusMaster | PciConfigSpace.CommandMemorySpace), _machine.CamRead(_slot, 4, width: 2));
        Assert.Equal((uint)PciConfigSpace.StatusCapabilitiesList, _machine.CamRead(_slot, 6, width: 2));
    }

    [Fact]
    public void BarsArePlacedInTheWindowsAndDecodeAtCreation()
    {
        var bar0 = _machine.CamRead(_slot, 0x10);
        var bar2 = ((ulong)_machine.CamRead(_slot, 0x1C) << 32) | _machine.CamRead(_slot, 0x18);
        var bar4 = _machine.CamRead(_slot, 0x20);

        Assert.Equal(MemoryLayout.PciMmioWindowStart, bar0 & ~0xFu);
        Assert.Equal(0u, bar0 & 0xF);
        Assert.Equal(0b1100UL, bar2 & 0xF); // 64-bit, prefetchable
        Assert.Equal(0UL, (bar2 & ~0xFUL) % 0x1000);
        Assert.InRange(bar2 & ~0xFUL, MemoryLayout.PciMmioWindowStart, MemoryLayout.PciMmioWindowStart + MemoryLayout.PciMmioWindowSize - 1);
        Assert.Equal(1u, bar4 & 3);
        Assert.Equal(PciRootBus.IoWindowStart, bar4 & ~3u);

        // The scratch register in BAR0 answers at its address.
        _machine.MmioWrite((bar0 & ~0xFu) + TestFunction.ScratchOffset, 0x1234_5678, 4);
        Assert.Equal(0x1234_5678UL, _machine.MmioRead((bar0 & ~0xFu) + TestFunction.ScratchOffset, 4));
        Span<byte> port = [0x5A];
        Assert.True(_machine.PortIo.Write((bar4 & ~3u) + 3, port));
    }

    [Fact]
    public void BarSizingReadsBackTheSizeMaskAndTypeBits()
    {
        _machine.CamWrite(_slot, 4, 0, width: 2); // decoding off while sizing, as Linux does
        var original = new uint[6];
        for (var bar = 0; bar < 6; bar++)
        {
            var register = 0x10 + (4 * bar);
            original[bar] = _machine.CamRead(_slot, register);
            _machine.CamWrite(_slot, register, 0xFFFF_FFFF);
        }

        Assert.Equal(~(uint)(TestFunction.Bar0Size - 1), _machine.CamRead(_slot, 0x10));
        Assert.Equal(0u, _machine.CamRead(_slot, 0x14)); // unused BAR
        Assert.Equal(0xFFFF_F000u | 0b1100, _machine.CamRead(_slot, 0x18));
        Assert.Equal(0xFFFF_FFFFu, _machine.CamRead(_slot, 0x1C)); // upper half of the 64-bit BAR
        Assert.Equal(0xFFFF_FFE0u | 1, _machine.CamRead(_slot, 0x20));
        Assert.Equal(0u, _machine.CamRead(_slot, 0x24));
        Assert.Equal(0u, _machine.CamRead(_slot, 0x30)); // no expansion ROM

        for (var bar = 0; bar < 6; bar++)
        {
            _machine.CamWrite(_slot, 0x10 + (4 * bar), original[bar]);
            Assert.Equal(original[bar], _machine.CamRead(_slot, 0x10 + (4 * bar)));
        }
    }

    [Fact]
    public void MovingABarMovesItsMmioRange()
    {
        var oldBase = _machine.CamRead(_slot, 0x10) & ~0xFu;
        var scratch = oldBase + TestFunction.ScratchOffset;
        _machine.MmioWrite(scratch, 0xCAFE, 2);
        _function.Moves.Clear();

        const uint newBase = 0xD800_0000;
        _machine.EcamWrite(_slot, 0x10, newBase);

        Assert.Equal(newBase, _machine.CamRead(_slot, 0x10));
        Assert.Equal(0xFFFFUL, _machine.MmioRead(scratch, 2)); // nothing at the old address
        Assert.Equal(0xCAFEUL, _machine.MmioRead(newBase + TestFunction.ScratchOffset, 2));
        var move = Assert.Single(_function.Moves);
        Assert.Equal(0, move.Bar);
        Assert.Equal(newBase, move.Mapping?.Address);

        // Memory decode off: gone from the bus; on again: back at the new address.
        _machine.CamWrite(_slot, 4, PciConfigSpace.CommandIoSpace, width: 2);
        Assert.Equal(0xFFFFUL, _machine.MmioRead(newBase + TestFunction.ScratchOffset, 2));
        _machine.CamWrite(_slot, 4, PciConfigSpace.CommandIoSpace | PciConfigSpace.CommandMemorySpace, width: 2);
        Assert.Equal(0xCAFEUL, _machine.MmioRead(newBase + TestFunction.ScratchOffset, 2));
    }

    [Fact]
    public void MovingA64BitBarAbove4GiBAndAnIoBarWorks()
    {
        _machine.CamWrite(_slot, 0x18, 0x0000_0000);
        _machine.CamWrite(_slot, 0x1C, 0x0000_0010);
        _machine.MmioWrite(0x10_0000_0000 + 8, 0xAB, 1);
        Assert.Equal(0xABUL, _machine.MmioRead(0x10_0000_0000 + 8, 1));

        _machine.CamWrite(_slot, 0x20, 0xD000);
        Span<byte> value = [0x42];
        Assert.True(_machine.PortIo.Write(0xD004, value));
        Span<byte> read = stackalloc byte[1];
        Assert.True(_machine.PortIo.Read(0xD004, read));
        Assert.Equal(0x42, read[0]);
        Assert.False(_machine.PortIo.Read(PciRootBus.IoWindowStart + 4, read));
    }

    [Fact]
    public void ABarMovedOntoAnotherClaimDecodesNothingUntilMovedAway()
    {
        var second = new TestFunction(_sink);
        var secondSlot = _machine.Root.AddDevice(second);
        var firstBar0 = _machine.CamRead(_slot, 0x10);
        var secondBar0 = _machine.CamRead(secondSlot, 0x10);

        _machine.CamWrite(secondSlot, 0x10, firstBar0); // collides with the first function
        _machine.MmioWrite(firstBar0 + TestFunction.ScratchOffset, 0x77, 1);
        Assert.Equal(0x77UL, _machine.MmioRead(firstBar0 + TestFunction.ScratchOffset, 1));
        Assert.Null(second.Moves[^1].Mapping);

        _machine.CamWrite(secondSlot, 0x10, (uint)MemoryLayout.PciEcamBase); // collides with ECAM itself
        Assert.Equal(0x0D57_8086u, _machine.EcamRead(0, 0));

        _machine.CamWrite(secondSlot, 0x10, secondBar0);
        Assert.Equal(0UL, _machine.MmioRead(secondBar0 + TestFunction.ScratchOffset, 1));
    }

    [Fact]
    public void CapabilityListWalksToTheVendorCapabilityAndMsiX()
    {
        Assert.NotEqual(0u, _machine.CamRead(_slot, 6, width: 2) & PciConfigSpace.StatusCapabilitiesList);
        var found = new List<(uint Id, int Offset)>();
        var pointer = (int)_machine.EcamRead(_slot, PciConfigSpace.CapabilitiesPointerOffset, width: 1);
        while (pointer != 0 && found.Count < 48)
        {
            Assert.Equal(0, pointer & 3);
            found.Add((_machine.EcamRead(_slot, pointer, width: 1), pointer));
            pointer = (int)_machine.EcamRead(_slot, pointer + 1, width: 1);
        }

        Assert.Equal([(0x09u, _function.VendorCapability), (0x11u, _function.MsiX.CapabilityOffset)], found);
        Assert.Equal(0x40, _function.VendorCapability);
        Assert.Equal(16u, _machine.CamRead(_slot, _function.VendorCapability + 2, width: 1)); // cap length
        Assert.Equal(0x05u, _machine.CamRead(_slot, _function.VendorCapability + 3, width: 1));

        var msix = _function.MsiX.CapabilityOffset;
        Assert.Equal((uint)(TestFunction.Vectors - 1), _machine.CamRead(_slot, msix + 2, width: 2));
        Assert.Equal((uint)TestFunction.TableOffset | 0, _machine.CamRead(_slot, msix + 4));
        Assert.Equal((uint)TestFunction.PbaOffset | 0, _machine.CamRead(_slot, msix + 8));

        // The host bridge has none.
        Assert.Equal(0u, _machine.CamRead(0, 6, width: 2) & PciConfigSpace.StatusCapabilitiesList);
        Assert.Equal(0u, _machine.CamRead(0, PciConfigSpace.CapabilitiesPointerOffset, width: 1));
    }

    [Fact]
    public void EcamAccessesThatAreTooWideOrStraddleADwordAreIgnored()
    {
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFFUL, _machine.MmioRead(PciTestMachine.EcamAddress(0, 0, 0, 0), 8));
        Assert.Equal(0xFFFFUL, _machine.MmioRead(PciTestMachine.EcamAddress(0, 0, 0, 3), 2));
        _machine.MmioWrite(PciTestMachine.EcamAddress(0, _slot, 0, 0x3B), 0x1234, 2);
        Assert.Equal((uint)PciInterruptRouting.Gsi(_slot, PciInterruptRouting.PinA), _machine.CamRead(_slot, 0x3C, width: 1)); // as wired
        Assert.Equal(0u, _machine.EcamRead(_slot, 0x100)); // no extended capabilities
    }

    [Fact]
    public void RandomGuestAccessesNeverThrow()
    {
        var random = new Random(1234);
        var bar0 = _machine.CamRead(_slot, 0x10) & ~0xFu;
        Span<byte> buffer = stackalloc byte[8];
        int[] widths = [1, 2, 4, 8, 3];
        for (var i = 0; i < 20_000; i++)
        {
            var width = widths[random.Next(widths.Length)];
            var data = buffer[..width];
            random.NextBytes(data);
            var write = random.Next(2) == 0;
            switch (random.Next(5))
            {
                case 0:
                    Access(_machine.PortIo, (ulong)(0xCF8 + random.Next(8)), data, write);
                    break;
                case 1:
                    Access(_machine.Mmio, MemoryLayout.PciEcamBase + (ulong)random.Next((int)MemoryLayout.PciEcamSize), data, write);
                    break;
                case 2:
                    Access(_machine.Mmio, bar0 + (ulong)random.Next((int)TestFunction.Bar0Size + 16), data, write);
                    break;
                case 3:
                    // Config writes aimed at the interesting registers: command, BARs, MSI-X control.
                    int[] registers = [4, 0x10, 0x18, 0x1C, 0x20, _function.MsiX.CapabilityOffset + 2];
                    _machine.EcamWrite(_slot, registers[random.Next(registers.Length)], (uint)random.Next(), width: 4);
                    break;
                default:
                    _function.MsiX.Notify(random.Next(-2, TestFunction.Vectors + 2));
                    break;
            }
        }

        // Still a working bus afterwards.
        Assert.Equal(0x0D57_8086u, _machine.CamRead(0, 0));
        Assert.Equal(0x0D57_8086u, _machine.EcamRead(0, 0));
    }

    private static void Access(Sharpvisor.Vmm.Bus.IoBus bus, ulong address, Span<byte> data, bool write)
    {
        if (write)
        {
            bus.Write(address, data);
        }
        else
        {
            bus.Read(address, data);
        }
    }
}
