using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class PvhLoaderTests : IDisposable
{
    private const ulong RamSize = 16UL << 20;

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), RamSize)]);

    public void Dispose() => _memory.Dispose();

    private static byte[] Pattern(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed + i))];

    private static ElfBuilder ValidKernel(bool is64Bit) =>
        new ElfBuilder(is64Bit)
            .Note("GNU", 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .PvhEntry(0x10_0010)
            .Load(0x10_0000, Pattern(0x40, 1), 0x3000)
            .Load(0x40_0000, Pattern(0x123, 7), 0x123);

    private void Fill(ulong address, int length, byte value) => _memory.GetSpan(new GuestAddress(address), length).Fill(value);

    private byte[] Read(ulong address, int length) => _memory.GetSpan(new GuestAddress(address), length).ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ValidPvhKernelLoadsSegmentsAtPhysicalAddressesWithZeroFill(bool is64Bit)
    {
        Fill(0x10_0000, 0x4000, 0xaa);
        var image = ElfImage.Parse(ValidKernel(is64Bit).Build());

        var kernel = PvhLoader.Load(image, _memory);

        Assert.Equal(is64Bit, image.Is64Bit);
        Assert.Equal(new GuestAddress(0x10_0010), kernel.EntryPoint);
        Assert.Equal(new GuestAddress(0x10_0000), kernel.Start);
        Assert.Equal(new GuestAddress(0x40_0123), kernel.End);
        Assert.Equal(Pattern(0x40, 1), Read(0x10_0000, 0x40));
        Assert.All(Read(0x10_0040, 0x3000 - 0x40), b => Assert.Equal(0, b));
        Assert.All(Read(0x10_3000, 0x1000), b => Assert.Equal(0xaa, b)); // past p_memsz: untouched
        Assert.Equal(Pattern(0x123, 7), Read(0x40_0000, 0x123));
    }

    [Fact]
    public void EntryNoteIsFoundInNoteSectionWhenNoNoteSegmentExists()
    {
        var bytes = new ElfBuilder(true) { NotesInSectionOnly = true }
            .PvhEntry(0x20_0000)
            .Load(0x20_0000, Pattern(16, 0), 16)
            .Build();

        Assert.Equal(new GuestAddress(0x20_0000), PvhLoader.FindEntryPoint(ElfImage.Parse(bytes)));
    }

    [Fact]
    public void EightByteEntryNoteIsAcceptedInElf32AndFourByteInElf64()
    {
        var elf32 = new ElfBuilder(false).Note("Xen", 18, BitConverter.GetBytes(0x10_0000UL)).Load(0x10_0000, [0x90], 1).Build();
        var elf64 = new ElfBuilder(true).Note("Xen", 18, BitConverter.GetBytes(0x10_0000U)).Load(0x10_0000, [0x90], 1).Build();

        Assert.Equal(new GuestAddress(0x10_0000), PvhLoader.FindEntryPoint(ElfImage.Parse(elf32)));
        Assert.Equal(new GuestAddress(0x10_0000), PvhLoader.FindEntryPoint(ElfImage.Parse(elf64)));
    }

    [Fact]
    public void NotesWithOtherOwnerOrTypeAreNotMistakenForTheEntry()
    {
        var bytes = new ElfBuilder(true)
            .Note("Xan", 18, BitConverter.GetBytes(0x10_0000UL))
            .Note("Xen", 17, BitConverter.GetBytes(0x10_0000UL))
            .Load(0x10_0000, [0x90], 1)
            .Build();

        var error = Assert.Throws<BootException>(() => PvhLoader.Load(ElfImage.Parse(bytes), _memory));
        Assert.Equal("kernel has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY note); only PVH ELF kernels are supported", error.Message);
    }

    [Fact]
    public void BadMagicIsReportedWithThePath()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, "#!/bin/sh\n"u8.ToArray());
            var error = Assert.Throws<BootException>(() => ElfImage.ReadFile(path));
            Assert.Equal($"kernel {path} is not an ELF file (bad magic)", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void MissingFileIsABootException()
    {
        var error = Assert.Throws<BootException>(() => ElfImage.ReadFile("/nonexistent/vmlinux"));
        Assert.Equal("kernel /nonexistent/vmlinux does not exist", error.Message);
    }

    [Fact]
    public void ReadFileLoadsAValidKernel()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, ValidKernel(true).Build());
            Assert.Equal(2, ElfImage.ReadFile(path).LoadSegments.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static TheoryData<string, Func<ElfBuilder>, string> Malformed => new()
    {
        { "shared object", () => new ElfBuilder(true) { Type = 3 }.PvhEntry(0x10_0000).Load(0x10_0000, [1], 1), "is not an executable ELF file (e_type 3)" },
        { "i386 machine in ELF64", () => new ElfBuilder(true) { Machine = 3 }.PvhEntry(0x10_0000).Load(0x10_0000, [1], 1), "not x86-64" },
        { "ARM machine in ELF32", () => new ElfBuilder(false) { Machine = 40 }.PvhEntry(0x10_0000).Load(0x10_0000, [1], 1), "not i386" },
        { "no PT_LOAD", () => new ElfBuilder(true).PvhEntry(0x10_0000), "has no loadable (PT_LOAD) segments" },
        { "no PVH note", () => new ElfBuilder(true).Load(0x10_0000, [1], 1), "has no PVH entry point" },
        { "segment below 1 MiB", () => new ElfBuilder(true).PvhEntry(0xf_f000).Load(0xf_f000, [1], 0x2000), "segment at 0xff000 (+0x2000) lies below 1 MiB" },
        { "segment past RAM", () => new ElfBuilder(true).PvhEntry(0x10_0000).Load(0x10_0000, [1], 1).Load(0xfff_f000, [1], 0x2000), "segment at 0xffff000 (+0x2000) does not fit in guest RAM" },
        { "segment in MMIO hole", () => new ElfBuilder(true).PvhEntry(0x10_0000).Load(0x10_0000, [1], 1).Load(0xc000_0000, [1], 1), "does not fit in guest RAM" },
        { "file bigger than memory", () => new ElfBuilder(true).PvhEntry(0x10_0000).Load(0x10_0000, [1, 2, 3], 2), "more file bytes (0x3) than memory bytes (0x2)" },
        { "segment wraps", () => new ElfBuilder(true).PvhEntry(0x10_0000).Load(0xffff_ffff_ffff_f000, [1], 0x2000), "wraps around the address space" },
        { "entry outside segments", () => new ElfBuilder(true).PvhEntry(0x80_0000).Load(0x10_0000, [1], 1), "outside every loadable segment" },
        { "entry above 4 GiB", () => new ElfBuilder(true).PvhEntry(0x1_0010_0000).Load(0x10_0000, [1], 1), "above 4 GiB" },
        { "2-byte entry note", () => new ElfBuilder(true).Note("Xen", 18, [0, 0x10]).Load(0x10_0000, [1], 1), "a 2-byte address where 4 or 8 bytes belong" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedKernelIsRefusedWithAClearMessage(string what, Func<ElfBuilder> build, string expected)
    {
        var error = Assert.Throws<BootException>(() => PvhLoader.Load(ElfImage.Parse(build().Build()), _memory));
        Assert.True(error.Message.StartsWith("kernel", StringComparison.Ordinal), what);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void RefusedKernelLeavesGuestMemoryUntouched()
    {
        Fill(0x10_0000, 0x100, 0xaa);
        var bytes = new ElfBuilder(true).PvhEntry(0x10_0000).Load(0x10_0000, Pattern(0x100, 1), 0x100).Load(0xfff_f000, [1], 0x2000).Build();

        Assert.Throws<BootException>(() => PvhLoader.Load(ElfImage.Parse(bytes), _memory));

        Assert.All(Read(0x10_0000, 0x100), b => Assert.Equal(0xaa, b));
    }

    [Fact]
    public void NoteRunningPastItsSegmentIsABootException()
    {
        var bytes = ValidKernel(true).Build();
        // The first note is "GNU" at the start of the note area; claim a descriptor far larger than the area.
        var noteOffset = BitConverter.ToInt32(bytes, new ElfBuilder(true).ProgramHeaderOffset(0) + 8);
        BitConverter.GetBytes(0x7fff_fff0U).CopyTo(bytes, noteOffset + 4);

        var error = Assert.Throws<BootException>(() => PvhLoader.FindEntryPoint(ElfImage.Parse(bytes)));
        Assert.Contains("malformed note segment 0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EveryTruncationIsABootException(bool is64Bit)
    {
        var bytes = ValidKernel(is64Bit).Build();
        for (var length = 0; length < bytes.Length; length++)
        {
            var truncated = bytes[..length];
            var thrown = Record.Exception(() => PvhLoader.Load(ElfImage.Parse(truncated), _memory));
            Assert.True(thrown is BootException, $"length {length}: {thrown?.GetType().Name ?? "no exception"}: {thrown?.Message}");
        }
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void FlippedBytesNeverThrowAnythingButBootException(bool is64Bit, bool notesInSection)
    {
        var original = new ElfBuilder(is64Bit) { NotesInSectionOnly = notesInSection }
            .Note("GNU", 3, [1, 2, 3, 4, 5])
            .PvhEntry(0x10_0010)
            .Load(0x10_0000, Pattern(0x40, 1), 0x3000)
            .Build();
        byte[] Values(byte b) => [0x00, 0xff, 0x80, 0x7f, 0x01, (byte)(b ^ 0x01), (byte)(b ^ 0x80), (byte)(b + 1)];

        var refused = 0;
        for (var i = 0; i < original.Length; i++)
        {
            foreach (var value in Values(original[i]))
            {
                var mutated = (byte[])original.Clone();
                mutated[i] = value;
                var thrown = Record.Exception(() => PvhLoader.Load(ElfImage.Parse(mutated), _memory));
                if (thrown is not null)
                {
                    Assert.True(thrown is BootException, $"byte {i} = 0x{value:x2}: {thrown}");
                    refused++;
                }
            }
        }

        Assert.True(refused > 0);
    }

    [Theory]
    [InlineData(32, 8, 0xffff_ffff_ffff_ffffUL, "program header table")] // e_phoff
    [InlineData(32, 8, 0xffff_ffff_ffff_fff0UL, "program header table")]
    [InlineData(56, 2, 0xffffUL, "program header table")] // e_phnum
    [InlineData(64 + 56 + 8, 8, 0xffff_ffff_ffff_ff00UL, "segment 1")] // p_offset of the first PT_LOAD
    [InlineData(64 + 56 + 32, 8, 0x7fff_ffff_ffff_ffffUL, "more file bytes")] // p_filesz
    [InlineData(64 + 8, 8, 0x1_0000_0000UL, "note segment 0")] // p_offset of PT_NOTE
    public void HugeCountsAndOffsetsAreBootExceptions(int offset, int width, ulong value, string expected)
    {
        var bytes = ValidKernel(true).Build();
        BitConverter.GetBytes(value).AsSpan(0, width).CopyTo(bytes.AsSpan(offset));

        var error = Assert.Throws<BootException>(() => PvhLoader.Load(ElfImage.Parse(bytes), _memory));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
