using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

public sealed class IdentityPageTablesTests : IDisposable
{
    private const ulong Present = 1;
    private const ulong Writable = 2;
    private const ulong PageSizeBit = 1UL << 7;
    private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 16UL << 20)]);

    public void Dispose() => _memory.Dispose();

    private ulong Entry(ulong table, ulong index) =>
        BinaryPrimitives.ReadUInt64LittleEndian(_memory.GetSpan(new GuestAddress(table + (index * 8)), 8));

    /// <summary>Translates a linear address the way the MMU does in 4-level paging, accepting 1 GiB, 2 MiB and 4 KiB leaves.</summary>
    private ulong Translate(ulong cr3, ulong linear)
    {
        var pml4e = Entry(cr3 & AddressMask, (linear >> 39) & 0x1FF);
        Assert.True((pml4e & Present) != 0, $"PML4E for 0x{linear:x} not present");
        Assert.True((pml4e & Writable) != 0);
        Assert.True((pml4e & PageSizeBit) == 0, "PS is reserved in a PML4E");

        var pdpte = Entry(pml4e & AddressMask, (linear >> 30) & 0x1FF);
        Assert.True((pdpte & Present) != 0, $"PDPTE for 0x{linear:x} not present");
        Assert.True((pdpte & Writable) != 0);
        if ((pdpte & PageSizeBit) != 0)
        {
            return (pdpte & AddressMask & ~((1UL << 30) - 1)) | (linear & ((1UL << 30) - 1));
        }

        var pde = Entry(pdpte & AddressMask, (linear >> 21) & 0x1FF);
        Assert.True((pde & Present) != 0, $"PDE for 0x{linear:x} not present");
        Assert.True((pde & Writable) != 0);
        if ((pde & PageSizeBit) != 0)
        {
            Assert.Equal(0UL, pde & 0x1F_E000); // reserved bits of a 2 MiB PDE (bits 20:13)
            return (pde & AddressMask & ~((1UL << 21) - 1)) | (linear & ((1UL << 21) - 1));
        }

        var pte = Entry(pde & AddressMask, (linear >> 12) & 0x1FF);
        Assert.True((pte & Present) != 0, $"PTE for 0x{linear:x} not present");
        return (pte & AddressMask) | (linear & 0xFFF);
    }

    [Theory]
    [InlineData(0x0UL)]
    [InlineData(0x8000UL)] // zero page
    [InlineData(0x2_0123UL)] // command line
    [InlineData(0x100_0200UL)] // a 64-bit entry point
    [InlineData(0x3FFF_FFFFUL)]
    [InlineData(0x4000_0000UL)]
    [InlineData(0x7FFF_F123UL)]
    [InlineData(0xBFFF_FFFFUL)]
    [InlineData(0xFEE0_0000UL)] // local APIC
    [InlineData(0xFFFF_FFFFUL)]
    public void EveryAddressBelow4GiBMapsToItself(ulong address)
    {
        var cr3 = IdentityPageTables.Write(_memory, MemoryLayout.PageTableArea);

        Assert.Equal(address, Translate(cr3.Value, address));
    }

    [Fact]
    public void EveryLargePageIsIdentityMapped()
    {
        var cr3 = IdentityPageTables.Write(_memory, MemoryLayout.PageTableArea).Value;

        for (ulong address = 0; address < 1UL << 32; address += 2UL << 20)
        {
            Assert.Equal(address + 0x1_2345, Translate(cr3, address + 0x1_2345));
        }
    }

    [Fact]
    public void NothingAbove4GiBIsMappedAndTheTablesStayInTheirArea()
    {
        var area = MemoryLayout.PageTableArea;
        _memory.GetSpan(new GuestAddress(area.Value - 8), 8).Fill(0xAA);
        _memory.GetSpan(area + MemoryLayout.PageTableAreaSize, 8).Fill(0xAA);

        var cr3 = IdentityPageTables.Write(_memory, area).Value;

        Assert.Equal(area.Value, cr3);
        Assert.Equal(0UL, cr3 & 0xFFF);
        Assert.True(IdentityPageTables.Size <= MemoryLayout.PageTableAreaSize);
        var pml4 = Entry(cr3, 0);
        for (ulong i = 1; i < 512; i++)
        {
            Assert.Equal(0UL, Entry(cr3, i));
        }

        for (ulong i = 4; i < 512; i++)
        {
            Assert.Equal(0UL, Entry(pml4 & AddressMask, i)); // PDPT entries past 4 GiB
        }

        // Every table the walk reaches lies inside the area.
        for (ulong i = 0; i < 4; i++)
        {
            var pd = Entry(pml4 & AddressMask, i) & AddressMask;
            Assert.InRange(pd, area.Value, area.Value + MemoryLayout.PageTableAreaSize - 0x1000);
        }

        Assert.Equal(0xAAAA_AAAA_AAAA_AAAAUL, Entry(area.Value - 8, 0));
        Assert.Equal(0xAAAA_AAAA_AAAA_AAAAUL, Entry(area.Value + MemoryLayout.PageTableAreaSize, 0));
    }

    [Fact]
    public void MisalignedAreaIsRefused()
    {
        Assert.Throws<ArgumentException>(() => IdentityPageTables.Write(_memory, new GuestAddress(0x9008)));
    }
}
