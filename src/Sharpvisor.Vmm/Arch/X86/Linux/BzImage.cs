using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Arch.X86.Linux;

/// <summary>
/// A Linux bzImage (boot protocol 2.12 or later with a 64-bit entry point), parsed from untrusted bytes. Every
/// field is bounds-checked before use; anything malformed becomes a one-line <see cref="BootException"/> naming
/// the file, never an indexing or overflow exception.
/// </summary>
public sealed class BzImage
{
    private readonly byte[] _bytes;

    private BzImage(string description, byte[] bytes)
    {
        Description = description;
        _bytes = bytes;

        if (!HasBzImageMagic(bytes))
        {
            throw Error(bytes.Length < SetupHeader.HeaderMagicOffset + 4
                ? $"is neither a PVH ELF nor a bzImage (only {bytes.Length} bytes)"
                : "is neither a PVH ELF nor a bzImage");
        }

        if (bytes.Length < SetupHeader.VersionOffset + 2)
        {
            throw Error($"is truncated ({bytes.Length} bytes, ending inside its setup header)");
        }

        var version = U16(SetupHeader.VersionOffset);
        if (version < SetupHeader.MinimumVersion)
        {
            throw Error($"uses Linux boot protocol {version >> 8}.{version & 0xFF}; at least 2.12 is needed for a 64-bit entry");
        }

        var headerEnd = SetupHeader.HeaderMagicOffset + bytes[SetupHeader.JumpOffset + 1];
        if (headerEnd < SetupHeader.MinimumHeaderEnd || headerEnd > SetupHeader.MaximumHeaderEnd)
        {
            throw Error($"has a malformed setup header: it claims to end at 0x{headerEnd:x}, "
                + $"outside [0x{SetupHeader.MinimumHeaderEnd:x}, 0x{SetupHeader.MaximumHeaderEnd:x}]");
        }

        if (bytes.Length < headerEnd)
        {
            throw Error($"is truncated ({bytes.Length} bytes, shorter than its setup header ending at 0x{headerEnd:x})");
        }

        Header = new SetupHeader
        {
            SetupSects = bytes[SetupHeader.SetupSectsOffset],
            Syssize = U32(SetupHeader.SyssizeOffset),
            Version = version,
            Loadflags = bytes[SetupHeader.LoadflagsOffset],
            Xloadflags = U16(SetupHeader.XloadflagsOffset),
            InitrdAddrMax = U32(SetupHeader.InitrdAddrMaxOffset),
            KernelAlignment = U32(SetupHeader.KernelAlignmentOffset),
            RelocatableKernel = bytes[SetupHeader.RelocatableKernelOffset] != 0,
            MinAlignment = bytes[SetupHeader.MinAlignmentOffset],
            CmdlineSize = U32(SetupHeader.CmdlineSizeOffset),
            PayloadOffset = U32(SetupHeader.PayloadOffsetOffset),
            PayloadLength = U32(SetupHeader.PayloadLengthOffset),
            PrefAddress = U64(SetupHeader.PrefAddressOffset),
            InitSize = U32(SetupHeader.InitSizeOffset),
            HeaderEnd = headerEnd,
        };

        if (!Header.LoadsHigh)
        {
            throw Error("is a zImage that loads below 1 MiB (LOADED_HIGH clear); only bzImages are supported");
        }

        if (!Header.Has64BitEntry)
        {
            throw Error("has no 64-bit entry point (XLF_KERNEL_64 clear); a 32-bit-only kernel cannot be booted");
        }

        if (Header.RelocatableKernel && !IsValidAlignment(Header.KernelAlignment))
        {
            throw Error($"has kernel_alignment 0x{Header.KernelAlignment:x}; a relocatable kernel needs a power of two of at least 4 KiB");
        }

        var kernelOffset = Header.KernelFileOffset;
        if (bytes.Length <= kernelOffset)
        {
            throw Error($"is truncated ({bytes.Length} bytes): its {Header.SetupSectors} setup sectors leave no protected-mode kernel");
        }

        if (Header.Syssize == 0)
        {
            throw Error("has a syssize of zero: no protected-mode kernel");
        }

        var declared = (ulong)Header.Syssize * 16;
        var available = (ulong)(bytes.Length - kernelOffset);
        if (declared > available)
        {
            throw Error($"is truncated: its protected-mode kernel is 0x{declared:x} bytes (syssize) "
                + $"but only 0x{available:x} bytes follow the setup code");
        }

        // The whole rest of the file is kernel: newer images pad past syssize (PE/EFI alignment), and the
        // decompressor finds its payload relative to where it was loaded, so nothing may be cut off.
        ProtectedModeKernel = bytes.AsMemory(kernelOffset);
    }

    /// <summary>How messages name this image, e.g. "kernel /boot/vmlinuz".</summary>
    public string Description { get; }

    public SetupHeader Header { get; }

    /// <summary>The protected-mode kernel: everything after the setup sectors, loaded as one block.</summary>
    public ReadOnlyMemory<byte> ProtectedModeKernel { get; }

    /// <summary>The raw setup header, [0x1F1, <see cref="SetupHeader.HeaderEnd"/>), to copy into the zero page.</summary>
    public ReadOnlySpan<byte> SetupHeaderBytes =>
        _bytes.AsSpan(SetupHeader.SetupSectsOffset, Header.HeaderEnd - SetupHeader.SetupSectsOffset);

    /// <summary>True when <paramref name="bytes"/> carry the boot sector flag and the "HdrS" magic of a Linux kernel image.</summary>
    public static bool HasBzImageMagic(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= SetupHeader.HeaderMagicOffset + 4
        && BinaryPrimitives.ReadUInt16LittleEndian(bytes[SetupHeader.BootFlagOffset..]) == SetupHeader.BootFlag
        && BinaryPrimitives.ReadUInt32LittleEndian(bytes[SetupHeader.HeaderMagicOffset..]) == SetupHeader.HeaderMagic;

    /// <summary>Parses <paramref name="bytes"/>; <paramref name="description"/> names the image in error messages.</summary>
    public static BzImage Parse(byte[] bytes, string description = "kernel")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(description);
        return new BzImage(description, bytes);
    }

    private static bool IsValidAlignment(uint alignment) =>
        alignment >= MemoryLayout.PageSize && (alignment & (alignment - 1)) == 0;

    private ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(offset, 2));

    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset, 4));

    private ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(offset, 8));

    private BootException Error(string problem) => new($"{Description} {problem}");
}
