using System.Buffers.Binary;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// 4-level page tables that identity-map guest-physical [0, 4 GiB) with 2 MiB pages, for entering a kernel in
/// 64-bit mode. 2 MiB pages work on every x86-64 CPU (1 GiB pages would need a CPUID check). The map covers the
/// MMIO hole too; a 64-bit kernel builds its own tables before it touches a device.
/// <para>
/// Layout, one page each from the start of the area: PML4, PDPT, then one page directory per GiB.
/// </para>
/// </summary>
public static class IdentityPageTables
{
    public const ulong MappedSize = 1UL << 32;

    public const ulong LargePageSize = 2UL << 20;

    public const int PageDirectoryCount = (int)(MappedSize >> 30);

    /// <summary>PML4 + PDPT + one page directory per GiB.</summary>
    public const ulong Size = (2 + PageDirectoryCount) * MemoryLayout.PageSize;

    public const ulong Present = 1UL << 0;
    public const ulong Writable = 1UL << 1;
    public const ulong LargePage = 1UL << 7;

    private const int EntriesPerTable = 512;

    /// <summary>Writes the tables at <paramref name="area"/> (page-aligned, <see cref="Size"/> bytes) and returns the PML4 address, the value for CR3.</summary>
    public static GuestAddress Write(GuestMemory memory, GuestAddress area)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (area.Value % MemoryLayout.PageSize != 0)
        {
            throw new ArgumentException($"page tables must be page-aligned, not at {area}", nameof(area));
        }

        var tables = new byte[Size];
        var pml4 = area;
        var pdpt = area + MemoryLayout.PageSize;
        BinaryPrimitives.WriteUInt64LittleEndian(tables, pdpt.Value | Present | Writable);

        var pdptTable = tables.AsSpan((int)MemoryLayout.PageSize, (int)MemoryLayout.PageSize);
        for (var gib = 0; gib < PageDirectoryCount; gib++)
        {
            var directoryOffset = (2 + gib) * (int)MemoryLayout.PageSize;
            var directory = area + (ulong)directoryOffset;
            BinaryPrimitives.WriteUInt64LittleEndian(pdptTable[(gib * 8)..], directory.Value | Present | Writable);

            var directoryTable = tables.AsSpan(directoryOffset, (int)MemoryLayout.PageSize);
            for (var i = 0; i < EntriesPerTable; i++)
            {
                var physical = ((ulong)gib << 30) + ((ulong)i * LargePageSize);
                BinaryPrimitives.WriteUInt64LittleEndian(directoryTable[(i * 8)..], physical | Present | Writable | LargePage);
            }
        }

        memory.Write(pml4, tables);
        return pml4;
    }
}
