using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Acpi;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Tests.Arch.X86.Acpi;

namespace Sharpvisor.Vmm.Tests.Devices.Pci;

public sealed class McfgTests
{
    [Fact]
    public void NamesTheEcamWindowForBusZero()
    {
        var table = Mcfg.Build();

        Assert.Equal(Mcfg.Length, table.Length);
        Assert.Equal("MCFG"u8.ToArray(), table[..4]);
        Assert.True(AcpiChecksum.IsValid(table));
        Assert.Equal(MemoryLayout.PciEcamBase, BinaryPrimitives.ReadUInt64LittleEndian(table.AsSpan(44)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(table.AsSpan(52))); // segment
        Assert.Equal(0, table[54]); // start bus
        Assert.Equal(0, table[55]); // end bus

        // AcpiTableBuilder accepts it and lists it in the XSDT.
        var set = new AcpiTableBuilder(1).AddTable(table).Build(new GuestAddress(0xE_0000));
        Assert.Equal(table, set["MCFG"].Bytes);
    }

    [Fact]
    public void EcamWindowFitsTheHoleBelowTheIoApic()
    {
        Assert.True(MemoryLayout.PciMmioWindowStart + MemoryLayout.PciMmioWindowSize <= MemoryLayout.PciEcamBase);
        Assert.True(MemoryLayout.PciEcamBase + MemoryLayout.PciEcamSize <= 0xFEC0_0000);
        Assert.Equal(0UL, MemoryLayout.PciEcamBase % (256UL << 20));
    }

    [IaslFact]
    public void IaslDecodesTheAllocation()
    {
        var result = Iasl.Disassemble("mcfg", Mcfg.Build());

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.NotNull(result.OutputFileText);
        Assert.DoesNotContain("Invalid", result.OutputFileText, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(@"Base Address : 00000000E0000000", result.OutputFileText);
        Assert.Matches(@"Start Bus Number : 00", result.OutputFileText);
        Assert.Matches(@"End Bus Number : 00", result.OutputFileText);
    }
}
