using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Arch.X86.Linux;

/// <summary>
/// Where a bzImage landed. The protected-mode kernel was copied to <see cref="LoadAddress"/>; the decompressor then
/// runs from <see cref="RuntimeStart"/> and uses memory up to <see cref="End"/> (init_size) before it reads the
/// memory map, so nothing else the VMM places may lie in [<see cref="LoadAddress"/>, <see cref="End"/>).
/// </summary>
public sealed record LoadedBzImage(GuestAddress LoadAddress, GuestAddress RuntimeStart, GuestAddress End)
{
    /// <summary>The 64-bit entry point: 0x200 into the protected-mode kernel.</summary>
    public GuestAddress Entry64 => LoadAddress + SetupHeader.Entry64Offset;
}

/// <summary>Copies the protected-mode part of a bzImage into guest RAM for the 64-bit boot protocol.</summary>
public static class BzImageLoader
{
    /// <summary>
    /// Chooses the load address: pref_address when the kernel is not relocatable, or when it is and pref_address
    /// is at or above 1 MiB and aligned to kernel_alignment; otherwise the first kernel_alignment boundary at or
    /// above 1 MiB. The footprint follows what the decompressor does: a relocatable kernel runs at its load address
    /// rounded up to kernel_alignment, but never below pref_address; a fixed one always runs at pref_address.
    /// Throws <see cref="BootException"/> when the footprint does not fit in the RAM below the MMIO hole.
    /// </summary>
    public static LoadedBzImage Place(BzImage image, MemoryLayout layout)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(layout);
        var header = image.Header;
        var size = (ulong)image.ProtectedModeKernel.Length;
        var lowEnd = layout.LowRamEnd.Value;
        var pref = header.PrefAddress;

        ulong load;
        ulong runtime;
        if (header.RelocatableKernel)
        {
            var alignment = (ulong)header.KernelAlignment;
            load = pref >= MemoryLayout.KernelMinimumAddress && pref % alignment == 0
                ? pref
                : AlignUp(MemoryLayout.KernelMinimumAddress, alignment);
            runtime = Math.Max(load, pref);
        }
        else
        {
            if (pref < MemoryLayout.KernelMinimumAddress)
            {
                throw new BootException(
                    $"{image.Description} is not relocatable and wants to run at 0x{pref:x}, below 1 MiB where the VMM keeps its boot structures");
            }

            load = pref;
            runtime = pref;
        }

        // Compared as "fits in what is left" so hostile values near 2^64 cannot wrap around.
        var fits = load < lowEnd && size <= lowEnd - load
            && runtime < lowEnd && header.InitSize <= lowEnd - runtime;
        if (!fits)
        {
            throw new BootException(
                $"{image.Description} does not fit in guest RAM: it loads at 0x{load:x} (0x{size:x} bytes) and needs "
                + $"0x{header.InitSize:x} bytes (init_size) from 0x{runtime:x}, but RAM below the MMIO hole ends at "
                + $"{layout.LowRamEnd}; give the guest more memory");
        }

        var end = Math.Max(load + size, runtime + header.InitSize);
        return new LoadedBzImage(new GuestAddress(load), new GuestAddress(runtime), new GuestAddress(end));
    }

    /// <summary>Places the kernel (see <see cref="Place"/>) and copies it; a refused kernel leaves guest memory untouched.</summary>
    public static LoadedBzImage Load(BzImage image, GuestMemory memory, MemoryLayout layout)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(memory);
        var kernel = Place(image, layout);
        if (!memory.IsValid(kernel.LoadAddress, (ulong)image.ProtectedModeKernel.Length))
        {
            throw new BootException($"{image.Description} at {kernel.LoadAddress} does not fit in guest RAM");
        }

        memory.Write(kernel.LoadAddress, image.ProtectedModeKernel.Span);
        return kernel;
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}
