using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

/// <summary>The MP table read back from guest memory at the offsets of the MultiProcessor Specification 1.4.</summary>
public sealed class MpTableTests : IDisposable
{
    private const ulong MiB = 1UL << 20;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 16 * MiB)]);

    public void Dispose() => _memory.Dispose();

    private byte[] Read(ulong address, int length) => _memory.GetSpan(new GuestAddress(address), length).ToArray();

    private static int Sum(byte[] bytes) => bytes.Sum(b => b) & 0xFF;

    /// <summary>Linux's scan (find_smp_config): first KiB, last KiB of base memory, then the BIOS ROM, 16-byte steps.</summary>
    private ulong? ScanLikeLinux()
    {
        foreach (var (start, length) in new (ulong, ulong)[] { (0, 0x400), (639 * 0x400, 0x400), (0xF0000, 0x10000) })
        {
            for (var a = start; a < start + length; a += 16)
            {
                var candidate = Read(a, 16);
                if (Encoding.ASCII.GetString(candidate, 0, 4) == "_MP_" && candidate[8] == 1 && Sum(candidate) == 0
                    && candidate[9] is 1 or 4)
                {
                    return a;
                }
            }
        }

        return null;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(64)]
    public void FloatingPointerIsWhereLinuxLooksSecond(int cpus)
    {
        MpTable.WriteTo(_memory, cpus);

        Assert.Equal(0x9FC00UL, ScanLikeLinux());
        Assert.Equal(MemoryLayout.MpTable, new GuestAddress(0x9FC00));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(254)]
    [InlineData(255)]
    [InlineData(1024)]
    public void ConfigurationTableDescribesTheMachine(int cpus)
    {
        MpTable.WriteTo(_memory, cpus);
        var floating = Read(0x9FC00, 16);
        Assert.Equal(4, floating[9]);        // spec revision 1.4
        Assert.Equal(0, floating[11]);       // feature 1: a configuration table, no default configuration
        var tableAddress = BinaryPrimitives.ReadUInt32LittleEndian(floating.AsSpan(4));
        Assert.Equal(0x9FC10U, tableAddress);

        var header = Read(tableAddress, 44);
        Assert.Equal("PCMP", Encoding.ASCII.GetString(header, 0, 4));
        var length = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(4));
        Assert.Equal(0, Sum(Read(tableAddress, length)));
        Assert.Equal(0xFEE0_0000U, BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(36)));
        Assert.Equal(MpTable.LengthFor(cpus), 16 + length);
        Assert.True((ulong)(16 + length) <= MemoryLayout.MpTableSize);

        // Walk the entries as Linux's smp_read_mpc does.
        var processors = new List<(byte Id, byte Flags)>();
        var irqs = new Dictionary<byte, byte>();
        var pciIrqs = new Dictionary<byte, (ushort Flags, byte Pin)>();
        var buses = new Dictionary<byte, string>();
        var nmiLint = -1;
        var ioApics = new List<(byte Id, uint Address)>();
        var count = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(34));
        var offset = (ulong)tableAddress + 44;
        for (var i = 0; i < count; i++)
        {
            var type = Read(offset, 1)[0];
            var entry = Read(offset, type == MpTable.EntryProcessor ? 20 : 8);
            switch (type)
            {
                case MpTable.EntryProcessor:
                    processors.Add((entry[1], entry[3]));
                    break;
                case MpTable.EntryBus:
                    buses.Add(entry[1], Encoding.ASCII.GetString(entry, 2, 6));
                    break;
                case MpTable.EntryIoApic:
                    ioApics.Add((entry[1], BinaryPrimitives.ReadUInt32LittleEndian(entry.AsSpan(4))));
                    break;
                case MpTable.EntryIoInterrupt when entry[4] == MpTable.IsaBusId:
                    Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(entry.AsSpan(2))); // conforms to the ISA bus
                    irqs.Add(entry[5], entry[7]);
                    break;
                case MpTable.EntryIoInterrupt:
                    Assert.Equal(MpTable.PciBusId, entry[4]);
                    pciIrqs.Add(entry[5], (BinaryPrimitives.ReadUInt16LittleEndian(entry.AsSpan(2)), entry[7]));
                    break;
                case MpTable.EntryLocalInterrupt:
                    Assert.Equal(MpTable.InterruptTypeNmi, entry[1]);
                    Assert.Equal(0xFF, entry[6]);
                    nmiLint = entry[7];
                    break;
                default:
                    Assert.Fail($"unknown entry type {type}");
                    break;
            }

            offset += (ulong)entry.Length;
        }

        Assert.Equal(tableAddress + length, offset);
        var expectedProcessors = Math.Min(cpus, 255);
        Assert.Equal(Enumerable.Range(0, expectedProcessors).Select(id => (byte)id), processors.Select(p => p.Id));
        Assert.Equal(3, processors[0].Flags); // enabled, bootstrap processor
        Assert.All(processors.Skip(1), p => Assert.Equal(1, p.Flags));
        Assert.Equal([(0, 0xFEC0_0000U)], ioApics);
        Assert.Equal(1, nmiLint);
        Assert.Equal(2, irqs[0]); // the PIT's IRQ 0 on pin 2, as the MADT's override says
        Assert.False(irqs.ContainsKey(2));
        Assert.All(Enumerable.Range(3, 13), irq => Assert.Equal((byte)irq, irqs[(byte)irq]));
        Assert.Equal(1, irqs[1]);

        // PCI bus 0 is MP bus 0 (Linux matches the PCI bus number); every slot's INTA-INTD, level and active low, on
        // the GSI the _PRT names: slot 1 INTA on 17, slot 7 INTA on 23, slot 8 INTA back on 16, INTB one further.
        Assert.Equal(new Dictionary<byte, string> { [0] = "PCI   ", [1] = "ISA   " }, buses);
        Assert.Equal(31 * 4, pciIrqs.Count);
        Assert.All(pciIrqs.Values, e => Assert.Equal(0x0F, e.Flags));
        Assert.Equal(17, pciIrqs[1 << 2].Pin);
        Assert.Equal(23, pciIrqs[7 << 2].Pin);
        Assert.Equal(16, pciIrqs[8 << 2].Pin);
        Assert.Equal(17, pciIrqs[(8 << 2) | 1].Pin);
        Assert.Equal(18, pciIrqs[(31 << 2) | 3].Pin);
        Assert.False(pciIrqs.ContainsKey(0)); // the host bridge has no interrupt
    }

    [Fact]
    public void ZeroVcpusIsRefused() => Assert.Throws<ArgumentOutOfRangeException>(() => MpTable.Build(0, MemoryLayout.MpTable));
}
