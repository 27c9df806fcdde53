using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Linux;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

public sealed class BootParamsTests : IDisposable
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;
    private const ulong ZeroPage = 0x8000;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 128 * MiB)]);

    public void Dispose() => _memory.Dispose();

    private static byte[] Read(GuestMemory memory, ulong address, int length) => memory.GetSpan(new GuestAddress(address), length).ToArray();

    private byte[] Read(ulong address, int length) => Read(_memory, address, length);

    private byte U8(ulong address) => Read(address, 1)[0];

    private ushort U16(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(Read(address, 2));

    private uint U32(ulong address) => BinaryPrimitives.ReadUInt32LittleEndian(Read(address, 4));

    private ulong U64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(Read(address, 8));

    private static (BzImage Image, LoadedBzImage Kernel) Kernel(BzImageBuilder builder, MemoryLayout layout)
    {
        var image = BzImage.Parse(builder.Build(), "kernel k");
        return (image, BzImageLoader.Place(image, layout));
    }

    [Fact]
    public void ZeroPageHasTheDocumentedLayout()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var builder = new BzImageBuilder();
        var bytes = builder.Build();
        var (image, kernel) = Kernel(builder, layout);
        var initrd = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 13)).ToArray();
        var bootParams = new BootParams { CommandLine = "console=ttyS0 root=/dev/vda", Initrd = initrd, RsdpAddress = new GuestAddress(0xE_0000) };

        // Garbage where the zero page goes: every byte not written must come out zero.
        _memory.GetSpan(new GuestAddress(ZeroPage), 4096).Fill(0xEE);
        var rsi = bootParams.WriteTo(_memory, layout, image, kernel).Value;

        Assert.Equal(ZeroPage, rsi);

        // The setup header is the image's bytes [0x1F1, 0x26C) except the fields a loader writes.
        var written = new HashSet<int>();
        void Mark(int offset, int size) => written.UnionWith(Enumerable.Range(offset, size));
        Mark(0x210, 1); // type_of_loader
        Mark(0x211, 1); // loadflags
        Mark(0x214, 4); // code32_start
        Mark(0x218, 8); // ramdisk_image, ramdisk_size
        Mark(0x228, 4); // cmd_line_ptr
        for (var offset = 0x1F1; offset < 0x26C; offset++)
        {
            if (!written.Contains(offset))
            {
                Assert.True(bytes[offset] == U8(ZeroPage + (ulong)offset), $"header byte 0x{offset:x}");
            }
        }

        Assert.Equal(0xAA55, U16(ZeroPage + 0x1FE));
        Assert.Equal(0x53726448U, U32(ZeroPage + 0x202));
        Assert.Equal(0x020F, U16(ZeroPage + 0x206));
        Assert.Equal(0x5BE0, U16(ZeroPage + 0x224)); // heap_end_ptr as in the image
        Assert.Equal(0xFF, U8(ZeroPage + 0x210)); // type_of_loader
        Assert.Equal(0x01, U8(ZeroPage + 0x211)); // LOADED_HIGH kept, QUIET and CAN_USE_HEAP cleared
        Assert.Equal(0x100_0000U, U32(ZeroPage + 0x214)); // code32_start = load address
        Assert.Equal(0x20000U, U32(ZeroPage + 0x228)); // cmd_line_ptr
        Assert.Equal(0U, U32(ZeroPage + 0xC8)); // ext_cmd_line_ptr
        Assert.Equal(0x7ffd000U, U32(ZeroPage + 0x218)); // ramdisk_image: top of 128 MiB, page-aligned
        Assert.Equal(10_000U, U32(ZeroPage + 0x21C)); // ramdisk_size
        Assert.Equal(0U, U32(ZeroPage + 0xC0)); // ext_ramdisk_image
        Assert.Equal(0U, U32(ZeroPage + 0xC4)); // ext_ramdisk_size
        Assert.Equal(0xE_0000UL, U64(ZeroPage + 0x70)); // acpi_rsdp_addr
        Assert.Equal(0, U8(ZeroPage + 0x1EF)); // sentinel

        Assert.Equal(4, U8(ZeroPage + 0x1E8)); // e820_entries
        (ulong Addr, ulong Size, uint Type)[] expected = [(0, 0x9FC00, 1), (0x9FC00, 0x60400, 2), (0x100000, 0x7F00000, 1), (0xE000_0000, 0x10_0000, 2)];
        for (var i = 0; i < expected.Length; i++)
        {
            var entry = ZeroPage + 0x2D0 + ((ulong)i * 20);
            Assert.Equal(expected[i], (U64(entry), U64(entry + 8), U32(entry + 16)));
        }

        // Nothing else: past the header, past the fourth e820 entry, and the fields before 0x1F1 stay zero.
        var page = Read(ZeroPage, 4096);
        Assert.True(page.AsSpan(0x26C, 0x2D0 - 0x26C).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(page.AsSpan(0x2D0 + 80).IndexOfAnyExcept((byte)0) < 0);
        var before = page.AsSpan(0, 0x1F1).ToArray();
        foreach (var (offset, size) in new[] { (0x70, 8), (0xC0, 12), (0x1E8, 1) })
        {
            before.AsSpan(offset, size).Clear();
        }

        Assert.True(before.AsSpan().IndexOfAnyExcept((byte)0) < 0);

        Assert.Equal("console=ttyS0 root=/dev/vda\0"u8.ToArray(), Read(0x20000, 28));
        Assert.Equal(initrd, Read(0x7ffd000, initrd.Length));
    }

    [Fact]
    public void ReservedBiosAreaIsInTheE820Table()
    {
        var layout = new MemoryLayout(4 * GiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder(), layout);

        new BootParams().WriteTo(_memory, layout, image, kernel);

        Assert.Equal(5, U8(ZeroPage + 0x1E8));
        var entries = Enumerable.Range(0, 5)
            .Select(i => ZeroPage + 0x2D0 + ((ulong)i * 20))
            .Select(e => (Start: U64(e), End: U64(e) + U64(e + 8), Type: U32(e + 16)))
            .ToArray();
        Assert.Contains(entries, e => e.Type == 2 && e.Start <= 0xE_0000 && e.End >= 0x10_0000);
        Assert.Equal((0xE000_0000UL, 0xE010_0000UL, 2U), entries[3]); // the PCI ECAM window
        Assert.Equal((0x1_0000_0000UL, 0x1_4000_0000UL, 1U), entries[4]);
        Assert.DoesNotContain(entries, e => e.Type == 1 && e.Start < 0x10_0000 && e.End > 0xE_0000);
    }

    [Fact]
    public void WithoutInitrdTheRamdiskFieldsAreZero()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder(), layout);

        new BootParams().WriteTo(_memory, layout, image, kernel);

        Assert.Equal(0U, U32(ZeroPage + 0x218));
        Assert.Equal(0U, U32(ZeroPage + 0x21C));
        Assert.Equal(0U, U32(ZeroPage + 0xC0));
        Assert.Equal(0U, U32(ZeroPage + 0xC4));
        Assert.Equal(0UL, U64(ZeroPage + 0x70));
        Assert.Equal(0, U8(0x20000));
    }

    [Fact]
    public void CommandLineIsLimitedByTheKernelsCmdlineSize()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder { CmdlineSize = 16 }, layout);

        new BootParams { CommandLine = new string('x', 16) }.WriteTo(_memory, layout, image, kernel);
        Assert.Equal(Encoding.ASCII.GetBytes(new string('x', 16) + "\0"), Read(0x20000, 17));

        var e = Assert.Throws<BootException>(() => new BootParams { CommandLine = new string('x', 17) }.WriteTo(_memory, layout, image, kernel));
        Assert.Equal("kernel command line is 17 bytes; kernel k accepts at most 16 (cmdline_size)", e.Message);
    }

    [Fact]
    public void CommandLineIsLimitedByTheVmmArea()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder { CmdlineSize = uint.MaxValue }, layout);
        var tooLong = new string('y', (int)MemoryLayout.MaxCommandLineSize);

        var e = Assert.Throws<BootException>(() => new BootParams { CommandLine = tooLong }.WriteTo(_memory, layout, image, kernel));
        Assert.Contains("the limit is 65535 bytes", e.Message, StringComparison.Ordinal);
        Assert.Throws<BootException>(() => new BootParams { CommandLine = "a\0b" }.WriteTo(_memory, layout, image, kernel));
    }

    [Fact]
    public void RefusedBootParamsWriteNothing()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder { CmdlineSize = 4 }, layout);
        var bootParams = new BootParams { CommandLine = "too long", Initrd = new byte[] { 1, 2, 3 } };

        Assert.Throws<BootException>(() => bootParams.WriteTo(_memory, layout, image, kernel));

        // The VMM's low area (zero page, command line) and the top of RAM, where the initrd would have gone.
        Assert.True(Read(0, (int)MiB).AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.True(Read(127 * MiB, (int)MiB).AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void InitrdStaysBelowInitrdAddrMax()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder { InitrdAddrMax = 0x3FF_FFFF }, layout);

        var at = BootParams.PlaceInitrd(layout, image.Header, kernel, 0x1800);

        Assert.Equal(new GuestAddress(0x3FF_E000), at);
    }

    [Fact]
    public void InitrdThatWouldOverlapTheKernelGoesBelowIt()
    {
        // Kernel footprint [16 MiB, 24 MiB); initrd_addr_max inside it.
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder { InitrdAddrMax = 0x17F_FFFF }, layout);

        var at = BootParams.PlaceInitrd(layout, image.Header, kernel, 3 * MiB);

        Assert.Equal(new GuestAddress(13 * MiB), at);
        Assert.True(at.Value + (3 * MiB) <= kernel.LoadAddress.Value);
    }

    [Fact]
    public void InitrdTooBigForLowRamAndNotAllowedHighIsRefused()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var (image, kernel) = Kernel(new BzImageBuilder(), layout);

        var e = Assert.Throws<BootException>(() => BootParams.PlaceInitrd(layout, image.Header, kernel, 112 * MiB));
        Assert.StartsWith("initrd of ", e.Message, StringComparison.Ordinal);
        Assert.Contains("give the guest more memory", e.Message, StringComparison.Ordinal);

        // 104 MiB fits exactly between the kernel's end (24 MiB) and 128 MiB; one byte more does not.
        Assert.Equal(new GuestAddress(24 * MiB), BootParams.PlaceInitrd(layout, image.Header, kernel, 104 * MiB));
        Assert.Throws<BootException>(() => BootParams.PlaceInitrd(layout, image.Header, kernel, (104 * MiB) + 1));
    }

    [Fact]
    public void InitrdThatFitsOnlyAbove4GiBUsesTheExtFields()
    {
        var layout = new MemoryLayout(4 * GiB, 40); // low 3 GiB, high [4 GiB, 5 GiB)
        using var memory = GuestMemory.Create(layout.RamRanges);
        // Room below the 32 MiB initrd_addr_max only for what fits under the kernel at 16 MiB.
        var (image, kernel) = Kernel(new BzImageBuilder { InitrdAddrMax = 0x1FF_FFFF, InitSize = 0x100_0000 }, layout);
        var initrd = Enumerable.Range(0, (int)(16 * MiB)).Select(i => (byte)(i >> 12)).ToArray();

        new BootParams { Initrd = initrd }.WriteTo(memory, layout, image, kernel);

        var expected = (5 * GiB) - (16 * MiB);
        Assert.Equal((uint)expected, BinaryPrimitives.ReadUInt32LittleEndian(Read(memory, ZeroPage + 0x218, 4)));
        Assert.Equal(1U, BinaryPrimitives.ReadUInt32LittleEndian(Read(memory, ZeroPage + 0xC0, 4)));
        Assert.Equal((uint)(16 * MiB), BinaryPrimitives.ReadUInt32LittleEndian(Read(memory, ZeroPage + 0x21C, 4)));
        Assert.Equal(0U, BinaryPrimitives.ReadUInt32LittleEndian(Read(memory, ZeroPage + 0xC4, 4)));
        Assert.True(initrd.AsSpan().SequenceEqual(memory.GetSpan(new GuestAddress(expected), initrd.Length)));

        var (lowOnly, lowKernel) = Kernel(new BzImageBuilder { InitrdAddrMax = 0x1FF_FFFF, InitSize = 0x100_0000, Xloadflags = 0x1 }, layout);
        Assert.Throws<BootException>(() => BootParams.PlaceInitrd(layout, lowOnly.Header, lowKernel, 16 * MiB));
    }
}
