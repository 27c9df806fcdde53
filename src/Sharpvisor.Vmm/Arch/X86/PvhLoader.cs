using System.Buffers.Binary;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86;

/// <summary>Where a kernel landed: the PVH entry point and the guest-physical span its segments cover.</summary>
public sealed record LoadedKernel(GuestAddress EntryPoint, GuestAddress Start, GuestAddress End);

/// <summary>
/// Loads a PVH ELF kernel: an ELF whose XEN_ELFNOTE_PHYS32_ENTRY note gives a physical entry point that the vCPU
/// enters in 32-bit protected mode, paging off, with EBX pointing at the hvm_start_info.
/// </summary>
public static class PvhLoader
{
    /// <summary>XEN_ELFNOTE_PHYS32_ENTRY from Xen's public elfnote.h.</summary>
    public const uint Phys32EntryNoteType = 18;

    public const string XenNoteName = "Xen";

    /// <summary>The PVH entry point from the Xen note; its descriptor is a 4- or 8-byte little-endian physical address.</summary>
    public static GuestAddress FindEntryPoint(ElfImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!image.TryFindNote(XenNoteName, Phys32EntryNoteType, out var descriptor))
        {
            throw new BootException(
                $"{image.Description} has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY note); only PVH ELF kernels are supported");
        }

        var entry = descriptor.Length switch
        {
            4 => BinaryPrimitives.ReadUInt32LittleEndian(descriptor.Span),
            8 => BinaryPrimitives.ReadUInt64LittleEndian(descriptor.Span),
            var n => throw new BootException(
                $"{image.Description} has a malformed PVH entry note: a {n}-byte address where 4 or 8 bytes belong"),
        };

        if (entry >= MemoryLayout.MmioHoleEnd)
        {
            throw new BootException(
                $"{image.Description} has its PVH entry point at 0x{entry:x}, above 4 GiB; PVH starts in 32-bit mode and cannot reach it");
        }

        return new GuestAddress(entry);
    }

    /// <summary>
    /// Copies every PT_LOAD segment to its physical address (file bytes, then zeros up to the memory size) after
    /// checking all of them, so a refused kernel leaves guest memory untouched.
    /// </summary>
    public static LoadedKernel Load(ElfImage image, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(memory);

        var entry = FindEntryPoint(image);
        var segments = image.LoadSegments;
        foreach (var segment in segments)
        {
            Check(image, memory, segment);
        }

        if (!segments.Any(s => s.PhysicalAddress <= entry && entry < s.PhysicalEnd))
        {
            throw new BootException($"{image.Description} has its PVH entry point at {entry}, outside every loadable segment");
        }

        foreach (var segment in segments)
        {
            memory.Write(segment.PhysicalAddress, image.GetFileBytes(segment));
            ZeroFill(memory, segment.PhysicalAddress + segment.FileSize, segment.MemorySize - segment.FileSize);
        }

        return new LoadedKernel(entry, segments.Min(s => s.PhysicalAddress), segments.Max(s => s.PhysicalEnd));
    }

    private static void Check(ElfImage image, GuestMemory memory, ElfSegment segment)
    {
        var where = $"{image.Description}: segment at {segment.PhysicalAddress} (+0x{segment.MemorySize:x})";
        if (segment.PhysicalAddress.Value < MemoryLayout.KernelMinimumAddress)
        {
            throw new BootException(
                $"{where} lies below 1 MiB, where the VMM keeps its boot structures; kernels must load at or above 0x{MemoryLayout.KernelMinimumAddress:x}");
        }

        if (!memory.IsValid(segment.PhysicalAddress, segment.MemorySize))
        {
            throw new BootException($"{where} does not fit in guest RAM");
        }
    }

    private static void ZeroFill(GuestMemory memory, GuestAddress start, ulong length)
    {
        // Fresh anonymous memory is already zero, but a reboot reuses RAM the previous guest wrote.
        const int Chunk = 1 << 20;
        while (length > 0)
        {
            var count = (int)Math.Min(length, Chunk);
            memory.GetSpan(start, count).Clear();
            start += (ulong)count;
            length -= (ulong)count;
        }
    }
}
