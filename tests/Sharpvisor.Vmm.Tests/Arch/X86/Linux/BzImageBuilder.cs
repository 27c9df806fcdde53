using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

/// <summary>
/// Writes a synthetic bzImage byte by byte: a boot sector with a setup header at the offsets of boot.rst, setup
/// sectors, and a protected-mode "kernel" of recognisable bytes. Defaults look like a modern relocatable kernel.
/// </summary>
public sealed class BzImageBuilder
{
    public byte SetupSects { get; set; } = 4;

    public ushort BootFlag { get; set; } = 0xAA55;

    public uint Magic { get; set; } = 0x5372_6448; // "HdrS"

    public ushort Version { get; set; } = 0x020F;

    /// <summary>The byte at 0x201: the header ends at 0x202 plus this.</summary>
    public byte JumpLength { get; set; } = 0x6A;

    public byte Loadflags { get; set; } = 0x01 | 0x20 | 0x80; // LOADED_HIGH, QUIET and CAN_USE_HEAP, to see them cleared

    public ushort HeapEndPtr { get; set; } = 0x5BE0;

    public uint InitrdAddrMax { get; set; } = 0x7FFF_FFFF;

    public uint KernelAlignment { get; set; } = 0x20_0000;

    public byte Relocatable { get; set; } = 1;

    public byte MinAlignment { get; set; } = 21;

    public ushort Xloadflags { get; set; } = 0x3; // KERNEL_64 | CAN_BE_LOADED_ABOVE_4G

    public uint CmdlineSize { get; set; } = 0x7FF;

    public ulong PrefAddress { get; set; } = 0x100_0000;

    public uint InitSize { get; set; } = 0x80_0000;

    public uint PayloadOffset { get; set; } = 0x2CC;

    public uint PayloadLength { get; set; } = 0x1234;

    /// <summary>Bytes of protected-mode kernel; syssize is its whole paragraphs unless <see cref="Syssize"/> is set.</summary>
    public int KernelLength { get; set; } = 0x3000;

    public uint? Syssize { get; set; }

    public int SetupSectors => SetupSects == 0 ? 4 : SetupSects;

    public int KernelOffset => (SetupSectors + 1) * 512;

    /// <summary>The byte at offset i of the protected-mode kernel.</summary>
    public static byte KernelByte(int i) => (byte)((i * 31) + 7);

    public byte[] Build()
    {
        var image = new byte[KernelOffset + KernelLength];
        var s = image.AsSpan();
        // Fill the setup area with a pattern so a copy of the wrong range shows.
        for (var i = 0; i < KernelOffset; i++)
        {
            image[i] = (byte)(0xC0 ^ i);
        }

        s[0x1F1] = SetupSects;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1F4..], Syssize ?? (uint)(KernelLength / 16));
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], BootFlag);
        s[0x200] = 0xEB;
        s[0x201] = JumpLength;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], Version);
        s[0x210] = 0; // type_of_loader
        s[0x211] = Loadflags;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], 0x10_0000); // code32_start
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x218..], 0); // ramdisk_image
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x21C..], 0); // ramdisk_size
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x224..], HeapEndPtr);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x228..], 0); // cmd_line_ptr
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], InitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], KernelAlignment);
        s[0x234] = Relocatable;
        s[0x235] = MinAlignment;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], Xloadflags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], CmdlineSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x248..], PayloadOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x24C..], PayloadLength);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x250..], 0); // setup_data
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], InitSize);

        for (var i = 0; i < KernelLength; i++)
        {
            image[KernelOffset + i] = KernelByte(i);
        }

        return image;
    }
}
