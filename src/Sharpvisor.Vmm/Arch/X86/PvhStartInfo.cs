using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>
/// Writes what a PVH kernel reads at entry: struct hvm_start_info (version 1) at
/// <see cref="MemoryLayout.StartInfo"/>, its memory map, the module list (the initrd as module 0) and the
/// NUL-terminated command line, at the fixed low-memory addresses of <see cref="MemoryLayout"/>.
/// </summary>
public sealed class PvhStartInfo
{
    /// <summary>XEN_HVM_START_MAGIC_VALUE.</summary>
    public const uint Magic = 0x336e_c578;

    public const uint Version = 1;

    /// <summary>The kernel command line; UTF-8 encoded, at most <see cref="MemoryLayout.MaxCommandLineSize"/> - 1 bytes.</summary>
    public string CommandLine { get; init; } = string.Empty;

    /// <summary>The initial ramdisk, passed as module 0; empty means no modules.</summary>
    public ReadOnlyMemory<byte> Initrd { get; init; }

    /// <summary>Where the ACPI RSDP is, once the VMM builds ACPI tables; zero tells the guest to look for itself.</summary>
    public GuestAddress RsdpAddress { get; set; }

    /// <summary>
    /// Where the initrd goes: page-aligned, as high as possible below the end of low RAM (never above 3 GiB, so a
    /// 32-bit guest can reach it), and clear of both the kernel and the VMM's area below 1 MiB.
    /// </summary>
    public static GuestAddress PlaceInitrd(MemoryLayout layout, LoadedKernel kernel, ulong size)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(kernel);
        var top = layout.LowRamEnd.Value;
        var tooBig = new BootException(
            $"initrd of {ByteSize.Format(size)} does not fit in guest RAM below {layout.LowRamEnd} "
            + $"above the kernel at [{kernel.Start}, {kernel.End}); give the guest more memory");

        if (size > top)
        {
            throw tooBig;
        }

        var start = (top - size) & ~(MemoryLayout.PageSize - 1);
        var overlapsKernel = start < kernel.End.Value && kernel.Start.Value < start + size;
        if (start < MemoryLayout.KernelMinimumAddress || overlapsKernel)
        {
            throw tooBig;
        }

        return new GuestAddress(start);
    }

    /// <summary>Writes everything into <paramref name="memory"/> and returns the start-info address, the value for EBX.</summary>
    public GuestAddress WriteTo(GuestMemory memory, MemoryLayout layout, LoadedKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(kernel);

        var commandLine = EncodeCommandLine(CommandLine);
        var memmap = layout.E820Map;
        if (memmap.Count > MemoryLayout.MaxMemmapEntries)
        {
            throw new InvalidOperationException($"memory map of {memmap.Count} entries exceeds the {MemoryLayout.MaxMemmapEntries} reserved");
        }

        var hasInitrd = !Initrd.IsEmpty;
        var initrdAddress = hasInitrd ? PlaceInitrd(layout, kernel, (ulong)Initrd.Length) : default;

        memory.Write(MemoryLayout.CommandLine, commandLine);

        Span<byte> entry = stackalloc byte[(int)MemoryLayout.MemmapEntrySize];
        for (var i = 0; i < memmap.Count; i++)
        {
            entry.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(entry[0..], memmap[i].Start.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], memmap[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)memmap[i].Type);
            memory.Write(MemoryLayout.Memmap + ((ulong)i * MemoryLayout.MemmapEntrySize), entry);
        }

        if (hasInitrd)
        {
            memory.Write(initrdAddress, Initrd.Span);
            Span<byte> module = stackalloc byte[(int)MemoryLayout.ModuleEntrySize];
            module.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(module[0..], initrdAddress.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(module[8..], (ulong)Initrd.Length);
            // cmdline_paddr and reserved stay zero: the initrd takes no command line of its own.
            memory.Write(MemoryLayout.ModuleList, module);
        }

        Span<byte> info = stackalloc byte[(int)MemoryLayout.StartInfoSize];
        info.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(info[0..], Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(info[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(info[8..], 0); // flags
        BinaryPrimitives.WriteUInt32LittleEndian(info[12..], hasInitrd ? 1U : 0U);
        BinaryPrimitives.WriteUInt64LittleEndian(info[16..], hasInitrd ? MemoryLayout.ModuleList.Value : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(info[24..], MemoryLayout.CommandLine.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(info[32..], RsdpAddress.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(info[40..], MemoryLayout.Memmap.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(info[48..], (uint)memmap.Count);
        memory.Write(MemoryLayout.StartInfo, info);

        return MemoryLayout.StartInfo;
    }

    private static byte[] EncodeCommandLine(string commandLine)
    {
        if (commandLine.Contains('\0', StringComparison.Ordinal))
        {
            throw new BootException("kernel command line contains a NUL character");
        }

        var length = Encoding.UTF8.GetByteCount(commandLine);
        var limit = MemoryLayout.MaxCommandLineSize - 1;
        if ((ulong)length > limit)
        {
            throw new BootException($"kernel command line is {length} bytes; the limit is {limit} bytes");
        }

        var bytes = new byte[length + 1];
        Encoding.UTF8.GetBytes(commandLine, bytes);
        return bytes;
    }
}
