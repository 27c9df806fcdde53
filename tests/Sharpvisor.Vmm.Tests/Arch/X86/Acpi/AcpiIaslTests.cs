using System.Text.RegularExpressions;
using Sharpvisor.Vmm.Arch.X86.Acpi;
using Sharpvisor.Vmm.Devices.Acpi;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Acpi;

/// <summary>
/// The independent check: ACPICA's own disassembler reads every table, must report no errors, warnings or bad
/// checksums, must decode what we meant, and its output compiled back must give our bytes again.
/// </summary>
public class AcpiIaslTests
{
    private static readonly GuestAddress Base = new(0xE_0000);

    // Compiling a disassembly stamps iasl's own checksum and compiler ID/revision; everything else must match.
    private static readonly int[] CompilerStampedOffsets = [9, 28, 29, 30, 31, 32, 33, 34, 35];

    public static TheoryData<int> VcpuCounts => [1, 2, 16, 255, 256, 1024];

    public static TheoryData<int, bool> Machines => new() { { 1, false }, { 2, true }, { 16, false }, { 255, false }, { 256, true }, { 1024, false } };

    [IaslTheory]
    [MemberData(nameof(Machines))]
    public void EveryTableDisassemblesCleanlyAndCompilesBackToTheSameBytes(int vcpus, bool pci)
    {
        var builder = new AcpiTableBuilder(vcpus) { PciHostBridge = pci };
        if (pci)
        {
            builder.AddTable(Mcfg.Build());
        }

        var set = builder.Build(Base);
        Assert.Equal(pci, set.Tables.Any(t => t.Signature == "MCFG"));

        foreach (var table in set.Tables.Where(t => t.Signature != "RSDP"))
        {
            var name = table.Signature.ToLowerInvariant();
            var disassembly = Disassemble(name, table.Bytes);

            // -oa: no AML optimisations, so the compiler emits exactly the encoding it read.
            var compiled = Iasl.Compile(name, disassembly, "-oa");
            Assert.True(compiled.ExitCode == 0, $"iasl could not compile its own disassembly of {table.Signature}:\n{compiled.Output}");
            Assert.Contains("0 Errors, 0 Warnings, 0 Remarks", compiled.Output, StringComparison.Ordinal);
            Assert.NotNull(compiled.OutputFileBytes);
            Assert.Equal(Unstamped(table.Bytes), Unstamped(compiled.OutputFileBytes));
        }
    }

    [IaslTheory]
    [MemberData(nameof(VcpuCounts))]
    public void MadtDisassemblyListsEveryProcessor(int vcpus)
    {
        var dsl = Disassemble("apic", Madt.Build(vcpus));

        Assert.Equal(Math.Min(vcpus, 255), Count(dsl, @"Subtable Type : 00 \[Processor Local APIC\]"));
        Assert.Equal(Math.Max(vcpus - 255, 0), Count(dsl, @"Subtable Type : 09 \[Processor Local x2APIC\]"));
        Assert.Equal(1, Count(dsl, @"Subtable Type : 01 \[I/O APIC\]"));
        Assert.Equal(1, Count(dsl, @"Subtable Type : 02 \[Interrupt Source Override\]"));
        Assert.Equal(1, Count(dsl, @"Subtable Type : 04 \[Local APIC NMI\]"));
        Assert.Equal(vcpus > 255 ? 1 : 0, Count(dsl, @"Subtable Type : 0A \[Local x2APIC NMI\]"));
        Assert.Equal(0, Count(dsl, @"Processor Enabled : 0"));
        Assert.Matches(@"Local Apic Address : FEE00000", dsl);
        Assert.Matches(@"PC-AT Compatibility : 0", dsl);
        Assert.Matches(@"Address : FEC00000", dsl);
        Assert.Matches(@"Local Apic ID : " + Math.Min(vcpus - 1, 254).ToString("X2", null), dsl);
    }

    [IaslFact]
    public void DsdtDisassemblyHasS5AndCom1()
    {
        var dsl = Disassemble("dsdt", Dsdt.Build());

        // \_S5's first element is the SLP_TYP the PM device powers off on.
        Assert.Matches(@"Name \(\\_S5, Package \(0x04\)[^{]*\{\s*0x0" + AcpiPmRegisters.S5SleepType + ",", dsl);
        Assert.Contains("Device (COM1)", dsl, StringComparison.Ordinal);
        Assert.Contains("EisaId (\"PNP0501\")", dsl, StringComparison.Ordinal);
        Assert.Matches(@"IO \(Decode16,\s*0x03F8,\s*// Range Minimum\s*0x03F8,\s*// Range Maximum\s*0x01,\s*// Alignment\s*0x08,", dsl);
        Assert.Matches(@"IRQNoFlags \(\)\s*\{4\}", dsl);
        Assert.Contains("Device (RTC)", dsl, StringComparison.Ordinal);
        Assert.Contains("EisaId (\"PNP0B00\")", dsl, StringComparison.Ordinal);
        Assert.Matches(@"IO \(Decode16,\s*0x0070,\s*// Range Minimum\s*0x0070,\s*// Range Maximum\s*0x01,\s*// Alignment\s*0x02,", dsl);
        Assert.Matches(@"IRQNoFlags \(\)\s*\{8\}", dsl);
    }

    [IaslFact]
    public void DsdtPciHostBridgeDescribesBusPortsAndMmioWindow()
    {
        var dsl = Disassemble("dsdt", Dsdt.Build(pciHostBridge: true));

        Assert.Contains("Device (PCI0)", dsl, StringComparison.Ordinal);
        Assert.Contains("EisaId (\"PNP0A08\")", dsl, StringComparison.Ordinal);
        Assert.Contains("EisaId (\"PNP0A03\")", dsl, StringComparison.Ordinal);
        Assert.Matches(@"WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode,\s*0x0000,\s*// Granularity\s*0x0000,\s*// Range Minimum\s*0x0000,\s*// Range Maximum\s*0x0000,\s*// Translation Offset\s*0x0001,", dsl);
        Assert.Matches(@"WordIO \(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,\s*0x0000,\s*// Granularity\s*0x0D00,\s*// Range Minimum\s*0xFFFF,\s*// Range Maximum\s*0x0000,\s*// Translation Offset\s*0xF300,", dsl);
        Assert.Matches(@"DWordMemory \(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,\s*0x00000000,\s*// Granularity\s*0xC0000000,\s*// Range Minimum\s*0xDFFFFFFF,\s*// Range Maximum\s*0x00000000,\s*// Translation Offset\s*0x20000000,", dsl);
        Assert.Matches(@"Name \(_CBA, 0x00000000E0000000\)|Name \(_CBA, 0xE0000000\)", dsl);
        // The ECAM window reserved as a motherboard resource, where Linux looks once ACPI is up.
        Assert.Contains("Device (MRES)", dsl, StringComparison.Ordinal);
        Assert.Contains("EisaId (\"PNP0C02\")", dsl, StringComparison.Ordinal);
        Assert.Matches(@"Memory32Fixed \(ReadWrite,\s*0xE0000000,\s*// Address Base\s*0x00100000,", dsl);
        var withoutPci = Disassemble("dsdt", Dsdt.Build());
        Assert.DoesNotContain("PCI0", withoutPci, StringComparison.Ordinal);
        Assert.DoesNotContain("PNP0C02", withoutPci, StringComparison.Ordinal);
    }

    [IaslFact]
    public void DsdtRoutesEveryPciSlotsInterruptPinsToTheGsisTheMpTableNames()
    {
        var dsl = Disassemble("dsdt", Dsdt.Build(pciHostBridge: true));

        Assert.Contains("Name (_PRT, Package (0x7C)", dsl, StringComparison.Ordinal);
        var entries = Regex.Matches(dsl, @"Package \(0x04\)\s*\{\s*0x([0-9A-F]{8}),\s*(Zero|One|0x02|0x03),\s*Zero,\s*0x([0-9A-F]{2})\s*\}")
            .Select(m => (
                Address: Convert.ToUInt32(m.Groups[1].Value, 16),
                Pin: m.Groups[2].Value switch { "Zero" => 0, "One" => 1, var hex => Convert.ToInt32(hex, 16) },
                Gsi: Convert.ToInt32(m.Groups[3].Value, 16)))
            .ToList();
        Assert.Equal(31 * 4, entries.Count);
        Assert.All(entries, e => Assert.Equal(0xFFFFu, e.Address & 0xFFFF)); // any function of the slot
        var expected = Enumerable.Range(1, 31).SelectMany(slot => Enumerable.Range(0, 4).Select(pin => ((uint)slot, pin, 16 + ((slot + pin) % 8))));
        Assert.Equal(expected, entries.Select(e => (e.Address >> 16, e.Pin, e.Gsi)));
    }

    [IaslFact]
    public void FadtDisassemblyShowsHardwareReducedRegisters()
    {
        var dsl = Disassemble("facp", Fadt.Build(new GuestAddress(0xE_0190)));

        Assert.Matches(@"Hardware Reduced \(V5\) : 1", dsl);
        Assert.Matches(@"Reset Register Supported \(V2\) : 1", dsl);
        Assert.Matches(@"Value to cause reset : 01", dsl);
        Assert.Matches(@"FADT Minor Revision : 03", dsl);
        Assert.Matches(@"\] +DSDT Address : 00000000000E0190", dsl);
        Assert.Matches(@"Reset Register : \[Generic Address Structure\][^\n]*\n[^\n]*Space ID : 01 \[SystemIO\][\s\S]*?Address : 0000000000000602", dsl);
        Assert.Matches(@"Sleep Control Register : \[Generic Address Structure\][^\n]*\n[^\n]*Space ID : 01 \[SystemIO\][\s\S]*?Address : 0000000000000600", dsl);
        Assert.Matches(@"Sleep Status Register : \[Generic Address Structure\][^\n]*\n[^\n]*Space ID : 01 \[SystemIO\][\s\S]*?Address : 0000000000000601", dsl);
    }

    [IaslFact]
    public void XsdtDisassemblyPointsAtFadtAndMadt()
    {
        var set = new AcpiTableBuilder(4).Build(Base);

        var dsl = Disassemble("xsdt", set["XSDT"].Bytes);

        Assert.Matches($"ACPI Table Address   0 : {set["FACP"].Address.Value:X16}", dsl);
        Assert.Matches($"ACPI Table Address   1 : {set["APIC"].Address.Value:X16}", dsl);
        Assert.DoesNotMatch("ACPI Table Address   2", dsl);
    }

    /// <summary>
    /// iasl 20200925 cannot load a standalone RSDP with -d (its file loader wants a standard table header), so
    /// the RSDP goes the other way: iasl compiles the RSDP we mean, computing both checksums itself, and the bytes
    /// must equal ours.
    /// </summary>
    [IaslFact]
    public void RsdpMatchesWhatIaslCompilesFromItsFields()
    {
        var set = new AcpiTableBuilder(1).Build(Base);
        var source = $"""
            [0008]                          Signature : "RSD PTR "
            [0001]                           Checksum : 00
            [0006]                             Oem ID : "SHARPV"
            [0001]                           Revision : 02
            [0004]                       RSDT Address : 00000000
            [0004]                             Length : 00000024
            [0008]                       XSDT Address : {set["XSDT"].Address.Value:X16}
            [0001]                  Extended Checksum : 00
            [0003]                           Reserved : 000000

            """;

        var compiled = Iasl.Compile("rsdp", source);

        Assert.True(compiled.ExitCode == 0, compiled.Output);
        Assert.Contains("0 Errors, 0 Warnings", compiled.Output, StringComparison.Ordinal);
        Assert.Equal(compiled.OutputFileBytes, set["RSDP"].Bytes);
    }

    [IaslFact]
    public void TheCheckCatchesABadChecksum()
    {
        var madt = Madt.Build(2);
        madt[9]++;

        var result = Iasl.Disassemble("apic", madt);

        Assert.Contains("Incorrect checksum", result.Output, StringComparison.Ordinal);
        Assert.Contains("Incorrect checksum", result.OutputFileText, StringComparison.Ordinal);
    }

    private static string Disassemble(string name, byte[] table)
    {
        var result = Iasl.Disassemble(name, table);
        Assert.True(result.ExitCode == 0, $"iasl -d {name}.dat failed:\n{result.Output}");
        Assert.DoesNotMatch("(?i)error|warning|incorrect|invalid", result.Output);
        Assert.NotNull(result.OutputFileText);
        Assert.DoesNotMatch(@"(?i)incorrect checksum|invalid|\*\*\*\*", result.OutputFileText);
        return result.OutputFileText;
    }

    private static byte[] Unstamped(byte[] table)
    {
        var copy = table.ToArray();
        foreach (var offset in CompilerStampedOffsets)
        {
            copy[offset] = 0;
        }

        return copy;
    }

    private static int Count(string text, string pattern) => Regex.Matches(text, pattern).Count;
}
