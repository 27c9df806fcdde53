using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Linux;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

public sealed class BzImageTests
{
    private static BzImage Parse(BzImageBuilder builder) => BzImage.Parse(builder.Build(), "kernel test.bz");

    private static string ParseError(byte[] bytes) =>
        Assert.Throws<BootException>(() => BzImage.Parse(bytes, "kernel test.bz")).Message;

    private static string ParseError(BzImageBuilder builder) => ParseError(builder.Build());

    [Fact]
    public void HeaderFieldsAreReadFromTheirOffsets()
    {
        var builder = new BzImageBuilder();
        var image = Parse(builder);
        var h = image.Header;

        Assert.Equal(4, h.SetupSects);
        Assert.Equal(4, h.SetupSectors);
        Assert.Equal(0xA00, h.KernelFileOffset);
        Assert.Equal(0x300U, h.Syssize);
        Assert.Equal(0x020F, h.Version);
        Assert.Equal(0xA1, h.Loadflags);
        Assert.Equal(0x3, h.Xloadflags);
        Assert.True(h.Has64BitEntry);
        Assert.True(h.CanLoadInitrdAbove4G);
        Assert.True(h.LoadsHigh);
        Assert.Equal(0x7FFF_FFFFU, h.InitrdAddrMax);
        Assert.Equal(0x20_0000U, h.KernelAlignment);
        Assert.True(h.RelocatableKernel);
        Assert.Equal(21, h.MinAlignment);
        Assert.Equal(0x7FFU, h.CmdlineSize);
        Assert.Equal(0x100_0000UL, h.PrefAddress);
        Assert.Equal(0x80_0000U, h.InitSize);
        Assert.Equal(0x2CCU, h.PayloadOffset);
        Assert.Equal(0x1234U, h.PayloadLength);
        Assert.Equal(0x26C, h.HeaderEnd);
        Assert.Equal("kernel test.bz", image.Description);
    }

    [Fact]
    public void ProtectedModeKernelIsEverythingAfterTheSetupSectors()
    {
        var builder = new BzImageBuilder { SetupSects = 7, KernelLength = 0x1234 };
        var bytes = builder.Build();

        var image = BzImage.Parse(bytes);

        Assert.Equal(0x1000, image.Header.KernelFileOffset);
        Assert.Equal(bytes.AsSpan(0x1000).ToArray(), image.ProtectedModeKernel.ToArray());
        Assert.Equal(BzImageBuilder.KernelByte(0), image.ProtectedModeKernel.Span[0]);
    }

    [Fact]
    public void SetupSectsZeroMeansFour()
    {
        var image = Parse(new BzImageBuilder { SetupSects = 0 });

        Assert.Equal(0, image.Header.SetupSects);
        Assert.Equal(4, image.Header.SetupSectors);
        Assert.Equal(5 * 512, image.Header.KernelFileOffset);
    }

    [Fact]
    public void PaddingAfterSyssizeIsKept()
    {
        // Real images carry bytes past syssize * 16 (the Debian 6.1 kernel has 1472); they are loaded too.
        var builder = new BzImageBuilder { KernelLength = 0x2000, Syssize = 0x100 };

        Assert.Equal(0x2000, Parse(builder).ProtectedModeKernel.Length);
    }

    [Fact]
    public void SetupHeaderBytesRunFrom0x1F1ToTheEndTheJumpGives()
    {
        var builder = new BzImageBuilder { JumpLength = 0x66 };
        var bytes = builder.Build();

        var header = BzImage.Parse(bytes).SetupHeaderBytes.ToArray();

        Assert.Equal(0x202 + 0x66 - 0x1F1, header.Length);
        Assert.Equal(bytes.AsSpan(0x1F1, header.Length).ToArray(), header);
    }

    [Fact]
    public void MagicIsRecognised()
    {
        Assert.True(BzImage.HasBzImageMagic(new BzImageBuilder().Build()));
        Assert.False(BzImage.HasBzImageMagic(new BzImageBuilder { Magic = 0x5372_6449 }.Build()));
        Assert.False(BzImage.HasBzImageMagic(new BzImageBuilder { BootFlag = 0x55AA }.Build()));
        Assert.False(BzImage.HasBzImageMagic(new byte[0x205]));
    }

    [Fact]
    public void ElfOrGarbageIsNeitherPvhNorBzImage()
    {
        var elf = new ElfBuilder(is64Bit: true).Build();

        Assert.Equal("kernel test.bz is neither a PVH ELF nor a bzImage", ParseError(new byte[4096]));
        Assert.StartsWith("kernel test.bz is neither a PVH ELF nor a bzImage", ParseError(elf), StringComparison.Ordinal);
        Assert.Equal("kernel test.bz is neither a PVH ELF nor a bzImage (only 3 bytes)", ParseError(new byte[3]));
        Assert.Contains("neither a PVH ELF nor a bzImage", ParseError(new BzImageBuilder { Magic = 0 }), StringComparison.Ordinal);
        Assert.Contains("neither a PVH ELF nor a bzImage", ParseError(new BzImageBuilder { BootFlag = 0 }), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x0200)]
    [InlineData(0x020A)]
    [InlineData(0x020B)]
    public void ProtocolsBefore212AreRefused(ushort version)
    {
        var message = ParseError(new BzImageBuilder { Version = version });

        Assert.Contains($"boot protocol 2.{version & 0xFF}", message, StringComparison.Ordinal);
        Assert.Contains("at least 2.12", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Protocol212IsAccepted()
    {
        Assert.Equal(0x020C, Parse(new BzImageBuilder { Version = 0x020C }).Header.Version);
    }

    [Fact]
    public void KernelWithout64BitEntryIsRefused()
    {
        Assert.Contains("no 64-bit entry point", ParseError(new BzImageBuilder { Xloadflags = 0x2 }), StringComparison.Ordinal);
    }

    [Fact]
    public void ZImageIsRefused()
    {
        Assert.Contains("LOADED_HIGH", ParseError(new BzImageBuilder { Loadflags = 0x80 }), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0U)]
    [InlineData(0x800U)]
    [InlineData(0x30_0000U)]
    public void RelocatableKernelNeedsAPowerOfTwoAlignment(uint alignment)
    {
        Assert.Contains("kernel_alignment", ParseError(new BzImageBuilder { KernelAlignment = alignment }), StringComparison.Ordinal);
    }

    [Fact]
    public void FixedKernelIgnoresKernelAlignment()
    {
        Assert.False(Parse(new BzImageBuilder { Relocatable = 0, KernelAlignment = 0 }).Header.RelocatableKernel);
    }

    [Theory]
    [InlineData(0x00)] // header would end at 0x202, before the fields a 2.12 header has
    [InlineData(0x61)] // ends at 0x263, inside init_size
    [InlineData(0x8F)] // ends at 0x291, past the zero page's room for it
    [InlineData(0xFF)]
    public void HeaderLengthOutsideTheZeroPageSlotIsRefused(byte jump)
    {
        Assert.Contains("malformed setup header", ParseError(new BzImageBuilder { JumpLength = jump }), StringComparison.Ordinal);
    }

    [Fact]
    public void SyssizeZeroOrBeyondTheFileIsRefused()
    {
        Assert.Contains("syssize of zero", ParseError(new BzImageBuilder { Syssize = 0 }), StringComparison.Ordinal);
        Assert.Contains("is truncated", ParseError(new BzImageBuilder { KernelLength = 0x1000, Syssize = 0x101 }), StringComparison.Ordinal);
        Assert.Contains("is truncated", ParseError(new BzImageBuilder { Syssize = uint.MaxValue }), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryTruncationIsABootException()
    {
        var bytes = new BzImageBuilder { SetupSects = 1, KernelLength = 0x100 }.Build();

        for (var length = 0; length < bytes.Length; length++)
        {
            var truncated = bytes[..length];
            var e = Assert.Throws<BootException>(() => BzImage.Parse(truncated, "kernel t"));
            Assert.StartsWith("kernel t ", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', e.Message);
        }

        Assert.Equal(0x100, BzImage.Parse(bytes).ProtectedModeKernel.Length);
    }

    [Fact]
    public void RandomHeaderCorruptionOnlyEverThrowsBootException()
    {
        var random = new Random(1234);
        var original = new BzImageBuilder { SetupSects = 1, KernelLength = 0x200 }.Build();
        for (var round = 0; round < 20_000; round++)
        {
            var bytes = (byte[])original.Clone();
            var flips = random.Next(1, 6);
            for (var i = 0; i < flips; i++)
            {
                // Mostly in the header, where the parser looks; sometimes anywhere.
                var at = random.Next(4) == 0 ? random.Next(bytes.Length) : random.Next(0x1F1, 0x270);
                bytes[at] = (byte)random.Next(256);
            }

            if (random.Next(8) == 0)
            {
                bytes = bytes[..random.Next(bytes.Length)];
            }

            try
            {
                var image = BzImage.Parse(bytes);
                _ = image.SetupHeaderBytes.Length;
                Assert.True(image.Header.KernelFileOffset + image.ProtectedModeKernel.Length == bytes.Length);
            }
            catch (BootException)
            {
            }
        }
    }

    [BzImageFileFact]
    public void RealKernelHeaderParses()
    {
        var path = Environment.GetEnvironmentVariable(BzImageFileFactAttribute.Variable)!;
        var bytes = File.ReadAllBytes(path);

        var image = BzImage.Parse(bytes, $"kernel {path}");
        var h = image.Header;

        Assert.True(h.Version >= 0x020C);
        Assert.True(h.Has64BitEntry);
        Assert.True(h.RelocatableKernel);
        Assert.True(h.InitSize >= image.ProtectedModeKernel.Length);
        Assert.True(h.PrefAddress >= 0x10_0000);
        Assert.Equal(0UL, h.PrefAddress % h.KernelAlignment);
        Assert.True(h.CmdlineSize >= 255);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(0x260)), h.InitSize);

        var layout = new MemoryLayout(512UL << 20, 40);
        var kernel = BzImageLoader.Place(image, layout);
        Assert.Equal(h.PrefAddress, kernel.LoadAddress.Value);
        Assert.Equal(h.PrefAddress + h.InitSize, kernel.End.Value);
    }
}

/// <summary>Runs only when SHARPVISOR_TEST_BZIMAGE names a real bzImage (e.g. a Debian /boot/vmlinuz-*).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BzImageFileFactAttribute : FactAttribute
{
    public const string Variable = "SHARPVISOR_TEST_BZIMAGE";

    public BzImageFileFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"set {Variable} to the path of a bzImage to run this test";
        }
    }
}
