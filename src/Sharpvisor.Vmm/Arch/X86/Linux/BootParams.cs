using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Linux;

/// <summary>
/// Writes what a bzImage reads at its 64-bit entry: struct boot_params (the "zero page") at
/// <see cref="MemoryLayout.ZeroPage"/> with the image's setup header, the e820 map, the initrd and the
/// NUL-terminated command line at <see cref="MemoryLayout.CommandLine"/>. Offsets are those of
/// Documentation/arch/x86/zero-page.rst.
/// </summary>
public sealed class BootParams
{
    public const int AcpiRsdpAddrOffset = 0x070;
    public const int ExtRamdiskImageOffset = 0x0C0;
    public const int ExtRamdiskSizeOffset = 0x0C4;
    public const int ExtCmdLinePtrOffset = 0x0C8;
    public const int E820EntriesOffset = 0x1E8;
    public const int SentinelOffset = 0x1EF;
    public const int Code32StartOffset = 0x214;
    public const int E820TableOffset = 0x2D0;
    public const int E820EntrySize = 20;

    /// <summary>E820_MAX_ENTRIES_ZEROPAGE: the table runs from 0x2D0 to 0xCD0.</summary>
    public const int MaxE820Entries = 128;

    /// <summary>type_of_loader 0xFF: a boot loader without an assigned ID.</summary>
    public const byte UndefinedLoader = 0xFF;

    /// <summary>The kernel command line; UTF-8 encoded, at most the kernel's cmdline_size bytes.</summary>
    public string CommandLine { get; init; } = string.Empty;

    /// <summary>The initial ramdisk; empty means none.</summary>
    public ReadOnlyMemory<byte> Initrd { get; init; }

    /// <summary>Where the ACPI RSDP is, once the VMM builds ACPI tables; zero tells the guest to look for itself.</summary>
    public GuestAddress RsdpAddress { get; set; }

    /// <summary>
    /// Where the initrd goes: page-aligned, as high as possible below both the end of low RAM and initrd_addr_max,
    /// clear of the kernel's init_size footprint and of the VMM's area below 1 MiB. If it fits nowhere there and the
    /// kernel accepts an initrd above 4 GiB (XLF_CAN_BE_LOADED_ABOVE_4G), it goes at the top of the RAM above 4 GiB.
    /// </summary>
    public static GuestAddress PlaceInitrd(MemoryLayout layout, SetupHeader header, LoadedBzImage kernel, ulong size)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentOutOfRangeException.ThrowIfZero(size);

        var limit = Math.Min(layout.LowRamEnd.Value, (ulong)header.InitrdAddrMax + 1);
        if (TryPlaceBelow(limit, size, out var start) && Overlaps(start, size, kernel))
        {
            // Too high means inside the kernel's footprint; the next highest place is just below it.
            _ = TryPlaceBelow(Math.Min(limit, kernel.LoadAddress.Value), size, out start);
        }

        if (start >= MemoryLayout.KernelMinimumAddress && !Overlaps(start, size, kernel))
        {
            return new GuestAddress(start);
        }

        if (header.CanLoadInitrdAbove4G && layout.HighRamSize >= size)
        {
            return new GuestAddress((layout.RamEnd.Value - size) & ~(MemoryLayout.PageSize - 1));
        }

        throw new BootException(
            $"initrd of {ByteSize.Format(size)} does not fit in guest RAM below 0x{limit:x} "
            + $"beside the kernel at [{kernel.LoadAddress}, {kernel.End}); give the guest more memory");
    }

    /// <summary>
    /// Checks everything, then writes the zero page, command line and initrd into <paramref name="memory"/>, and
    /// returns the zero-page address, the value for RSI at the 64-bit entry.
    /// </summary>
    public GuestAddress WriteTo(GuestMemory memory, MemoryLayout layout, BzImage image, LoadedBzImage kernel)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(kernel);

        var header = image.Header;
        var commandLine = EncodeCommandLine(CommandLine, image);
        var memmap = layout.E820Map;
        if (memmap.Count > MaxE820Entries)
        {
            throw new InvalidOperationException($"memory map of {memmap.Count} entries exceeds the {MaxE820Entries} the zero page holds");
        }

        var initrdSize = (ulong)Initrd.Length;
        var initrdAddress = initrdSize == 0 ? default : PlaceInitrd(layout, header, kernel, initrdSize);

        Span<byte> page = stackalloc byte[(int)MemoryLayout.ZeroPageSize];
        page.Clear(); // also leaves the sentinel at 0x1EF zero, so the kernel trusts every field below
        image.SetupHeaderBytes.CopyTo(page[SetupHeader.SetupSectsOffset..]);

        page[SetupHeader.TypeOfLoaderOffset] = UndefinedLoader;
        // QUIET would hide early messages; CAN_USE_HEAP only matters to the real-mode setup code, which the
        // 64-bit entry skips, so heap_end_ptr stays as the image has it and unused.
        var loadflags = (byte)((header.Loadflags | SetupHeader.LoadedHigh) & ~(SetupHeader.QuietFlag | SetupHeader.CanUseHeap));
        page[SetupHeader.LoadflagsOffset] = loadflags;
        // The 32-bit entry is not used, but a loader that moves a relocatable kernel is expected to say where.
        WriteU32(page, Code32StartOffset, (uint)kernel.LoadAddress.Value);

        WriteSplit(page, SetupHeader.CmdLinePtrOffset, ExtCmdLinePtrOffset, MemoryLayout.CommandLine.Value);
        WriteSplit(page, SetupHeader.RamdiskImageOffset, ExtRamdiskImageOffset, initrdAddress.Value);
        WriteSplit(page, SetupHeader.RamdiskSizeOffset, ExtRamdiskSizeOffset, initrdSize);
        BinaryPrimitives.WriteUInt64LittleEndian(page[AcpiRsdpAddrOffset..], RsdpAddress.Value);

        page[E820EntriesOffset] = (byte)memmap.Count;
        for (var i = 0; i < memmap.Count; i++)
        {
            var entry = page.Slice(E820TableOffset + (i * E820EntrySize), E820EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[0..], memmap[i].Start.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], memmap[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)memmap[i].Type);
        }

        memory.Write(MemoryLayout.CommandLine, commandLine);
        if (initrdSize != 0)
        {
            memory.Write(initrdAddress, Initrd.Span);
        }

        memory.Write(MemoryLayout.ZeroPage, page);
        return MemoryLayout.ZeroPage;
    }

    private static bool TryPlaceBelow(ulong limit, ulong size, out ulong start)
    {
        start = size <= limit ? (limit - size) & ~(MemoryLayout.PageSize - 1) : 0;
        return size <= limit;
    }

    private static bool Overlaps(ulong start, ulong size, LoadedBzImage kernel) =>
        start < kernel.End.Value && kernel.LoadAddress.Value < start + size;

    private static void WriteU32(Span<byte> page, int offset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(page[offset..], value);

    private static void WriteSplit(Span<byte> page, int lowOffset, int highOffset, ulong value)
    {
        WriteU32(page, lowOffset, (uint)value);
        WriteU32(page, highOffset, (uint)(value >> 32));
    }

    private static byte[] EncodeCommandLine(string commandLine, BzImage image)
    {
        if (commandLine.Contains('\0', StringComparison.Ordinal))
        {
            throw new BootException("kernel command line contains a NUL character");
        }

        var length = (ulong)Encoding.UTF8.GetByteCount(commandLine);
        var vmmLimit = MemoryLayout.MaxCommandLineSize - 1;
        if (length > image.Header.CmdlineSize)
        {
            throw new BootException(
                $"kernel command line is {length} bytes; {image.Description} accepts at most {image.Header.CmdlineSize} (cmdline_size)");
        }

        if (length > vmmLimit)
        {
            throw new BootException($"kernel command line is {length} bytes; the limit is {vmmLimit} bytes");
        }

        var bytes = new byte[length + 1];
        Encoding.UTF8.GetBytes(commandLine, bytes);
        return bytes;
    }
}
