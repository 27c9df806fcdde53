namespace Sharpvisor.Vmm.Arch.X86.Linux;

/// <summary>
/// The fields of a bzImage's setup header (struct setup_header, at 0x1F1 of the image and of the zero page) that a
/// 64-bit boot loader needs, as read from the file. Offsets are those of Documentation/arch/x86/boot.rst, counted
/// from the start of the image.
/// </summary>
public sealed record SetupHeader
{
    public const int SetupSectsOffset = 0x1F1;
    public const int SyssizeOffset = 0x1F4;
    public const int BootFlagOffset = 0x1FE;
    public const int JumpOffset = 0x200;
    public const int HeaderMagicOffset = 0x202;
    public const int VersionOffset = 0x206;
    public const int TypeOfLoaderOffset = 0x210;
    public const int LoadflagsOffset = 0x211;
    public const int RamdiskImageOffset = 0x218;
    public const int RamdiskSizeOffset = 0x21C;
    public const int HeapEndPtrOffset = 0x224;
    public const int CmdLinePtrOffset = 0x228;
    public const int InitrdAddrMaxOffset = 0x22C;
    public const int KernelAlignmentOffset = 0x230;
    public const int RelocatableKernelOffset = 0x234;
    public const int MinAlignmentOffset = 0x235;
    public const int XloadflagsOffset = 0x236;
    public const int CmdlineSizeOffset = 0x238;
    public const int PayloadOffsetOffset = 0x248;
    public const int PayloadLengthOffset = 0x24C;
    public const int PrefAddressOffset = 0x258;
    public const int InitSizeOffset = 0x260;

    /// <summary>The fields this loader reads end here (init_size is the last); a kernel whose header is shorter is too old anyway.</summary>
    public const int MinimumHeaderEnd = InitSizeOffset + 4;

    /// <summary>
    /// In the zero page the setup header is followed by edd_mbr_sig_buffer at 0x290, so no header can be longer
    /// than this without overwriting other boot_params fields.
    /// </summary>
    public const int MaximumHeaderEnd = 0x290;

    public const ushort BootFlag = 0xAA55;

    /// <summary>"HdrS" read as a little-endian 32-bit value.</summary>
    public const uint HeaderMagic = 0x5372_6448;

    /// <summary>2.12: the first protocol with xloadflags, so the first that can say it has a 64-bit entry.</summary>
    public const ushort MinimumVersion = 0x020C;

    public const ushort RsdpVersion = 0x020E;

    public const byte LoadedHigh = 1 << 0;
    public const byte QuietFlag = 1 << 5;
    public const byte KeepSegments = 1 << 6;
    public const byte CanUseHeap = 1 << 7;

    public const ushort XlfKernel64 = 1 << 0;
    public const ushort XlfCanBeLoadedAbove4G = 1 << 1;

    /// <summary>setup_sects of zero means 4, for compatibility with ancient kernels.</summary>
    public const int DefaultSetupSectors = 4;

    public const int SectorSize = 512;

    /// <summary>The 64-bit entry point is this far into the protected-mode kernel.</summary>
    public const ulong Entry64Offset = 0x200;

    /// <summary>setup_sects as stored (0 means <see cref="DefaultSetupSectors"/>).</summary>
    public required byte SetupSects { get; init; }

    /// <summary>Size of the protected-mode code in 16-byte paragraphs.</summary>
    public required uint Syssize { get; init; }

    /// <summary>Boot protocol version, major in the high byte: 0x020F is 2.15.</summary>
    public required ushort Version { get; init; }

    public required byte Loadflags { get; init; }

    public required ushort Xloadflags { get; init; }

    /// <summary>The highest address the initrd may occupy (inclusive), when it must stay below 4 GiB.</summary>
    public required uint InitrdAddrMax { get; init; }

    public required uint KernelAlignment { get; init; }

    public required bool RelocatableKernel { get; init; }

    /// <summary>log2 of the smallest alignment a relocatable kernel accepts.</summary>
    public required byte MinAlignment { get; init; }

    /// <summary>Longest command line the kernel takes, without the terminating NUL.</summary>
    public required uint CmdlineSize { get; init; }

    public required ulong PrefAddress { get; init; }

    /// <summary>Bytes of contiguous memory the kernel needs from its runtime start before it reads the memory map.</summary>
    public required uint InitSize { get; init; }

    public required uint PayloadOffset { get; init; }

    public required uint PayloadLength { get; init; }

    /// <summary>One past the last header byte: 0x202 plus the byte at 0x201 (the jump over the header).</summary>
    public required int HeaderEnd { get; init; }

    /// <summary>Sectors of real-mode setup code after the boot sector.</summary>
    public int SetupSectors => SetupSects == 0 ? DefaultSetupSectors : SetupSects;

    /// <summary>File offset of the protected-mode kernel: the boot sector plus the setup sectors.</summary>
    public int KernelFileOffset => (SetupSectors + 1) * SectorSize;

    public bool Has64BitEntry => (Xloadflags & XlfKernel64) != 0;

    public bool CanLoadInitrdAbove4G => (Xloadflags & XlfCanBeLoadedAbove4G) != 0;

    public bool LoadsHigh => (Loadflags & LoadedHigh) != 0;
}
