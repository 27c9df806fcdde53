using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Arch.X86.Linux;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86.Linux;

public sealed class BzImageLoaderTests
{
    private const ulong MiB = 1UL << 20;

    private static readonly MemoryLayout Layout = new(128 * MiB, 40);

    private static LoadedBzImage Place(BzImageBuilder builder, MemoryLayout? layout = null) =>
        BzImageLoader.Place(BzImage.Parse(builder.Build(), "kernel k"), layout ?? Layout);

    [Fact]
    public void RelocatableKernelLoadsAtAnAlignedPrefAddress()
    {
        var kernel = Place(new BzImageBuilder { PrefAddress = 0x100_0000, InitSize = 0x80_0000 });

        Assert.Equal(new GuestAddress(0x100_0000), kernel.LoadAddress);
        Assert.Equal(new GuestAddress(0x100_0000), kernel.RuntimeStart);
        Assert.Equal(new GuestAddress(0x180_0000), kernel.End);
        Assert.Equal(new GuestAddress(0x100_0200), kernel.Entry64);
    }

    [Fact]
    public void MisalignedPrefAddressFallsBackToTheFirstAlignedAddressAbove1MiB()
    {
        var kernel = Place(new BzImageBuilder { PrefAddress = 0x10_1000, KernelAlignment = 0x20_0000 });

        Assert.Equal(new GuestAddress(0x20_0000), kernel.LoadAddress);
        Assert.Equal(new GuestAddress(0x20_0200), kernel.Entry64);
    }

    [Fact]
    public void PrefAddressBelow1MiBFallsBackTo1MiBAligned()
    {
        var kernel = Place(new BzImageBuilder { PrefAddress = 0x8_0000, KernelAlignment = 0x1000 });

        Assert.Equal(new GuestAddress(0x10_0000), kernel.LoadAddress);
    }

    [Fact]
    public void FootprintCoversTheDecompressorRuntimeAddressAndTheImage()
    {
        // Loaded at 2 MiB, but the decompressor never runs below pref_address: the footprint reaches pref + init_size.
        var runsAtPref = Place(new BzImageBuilder { PrefAddress = 0x30_0000, KernelAlignment = 0x20_0000, InitSize = 0x10_0000 });
        Assert.Equal(new GuestAddress(0x20_0000), runsAtPref.LoadAddress);
        Assert.Equal(new GuestAddress(0x30_0000), runsAtPref.RuntimeStart);
        Assert.Equal(new GuestAddress(0x40_0000), runsAtPref.End);

        // An init_size smaller than the file: the image itself still occupies its bytes.
        var big = Place(new BzImageBuilder { KernelLength = 0x5000, InitSize = 0x1000 });
        Assert.Equal(new GuestAddress(0x100_5000), big.End);
    }

    [Fact]
    public void FixedKernelLoadsAtPrefAddress()
    {
        var kernel = Place(new BzImageBuilder { Relocatable = 0, PrefAddress = 0x123_4000 });

        Assert.Equal(new GuestAddress(0x123_4000), kernel.LoadAddress);
        Assert.Equal(new GuestAddress(0x123_4000 + 0x80_0000), kernel.End);
    }

    [Fact]
    public void FixedKernelBelow1MiBIsRefused()
    {
        var e = Assert.Throws<BootException>(() => Place(new BzImageBuilder { Relocatable = 0, PrefAddress = 0x9_0000 }));
        Assert.Contains("below 1 MiB", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x100_0000UL, 0x700_0001U)] // init_size one byte too many for 128 MiB
    [InlineData(0x800_0000UL, 0x1000U)] // pref_address at the very end of RAM
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, 0x1000U)] // hostile pref_address where pref + init_size wraps
    public void KernelThatDoesNotFitInLowRamIsRefused(ulong pref, uint initSize)
    {
        var e = Assert.Throws<BootException>(() => Place(new BzImageBuilder { PrefAddress = pref, InitSize = initSize }));

        Assert.StartsWith("kernel k does not fit in guest RAM", e.Message, StringComparison.Ordinal);
        Assert.Contains("give the guest more memory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InitSizeExactlyToTheEndOfLowRamFits()
    {
        var kernel = Place(new BzImageBuilder { PrefAddress = 0x100_0000, InitSize = 0x700_0000 });

        Assert.Equal(new GuestAddress(128 * MiB), kernel.End);
    }

    [Fact]
    public void KernelNeverGoesAboveTheMmioHole()
    {
        var layout = new MemoryLayout(8UL << 30, 40);

        var e = Assert.Throws<BootException>(() => Place(new BzImageBuilder { PrefAddress = 0xBFF0_0000, KernelAlignment = 0x10_0000, InitSize = 0x20_0000 }, layout));
        Assert.Contains("0xc0000000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadCopiesTheProtectedModeKernelToTheLoadAddress()
    {
        using var memory = GuestMemory.Create(Layout.RamRanges);
        var builder = new BzImageBuilder { KernelLength = 0x2345 };
        var image = BzImage.Parse(builder.Build());

        var kernel = BzImageLoader.Load(image, memory, Layout);

        var loaded = memory.GetSpan(kernel.LoadAddress, builder.KernelLength).ToArray();
        Assert.Equal(Enumerable.Range(0, builder.KernelLength).Select(BzImageBuilder.KernelByte).ToArray(), loaded);
        Assert.Equal(0, memory.GetSpan(kernel.LoadAddress + (ulong)builder.KernelLength, 1)[0]);
        Assert.Equal(0, memory.GetSpan(new GuestAddress(kernel.LoadAddress.Value - 1), 1)[0]);
    }

    [Fact]
    public void RefusedKernelLeavesMemoryUntouched()
    {
        using var memory = GuestMemory.Create(Layout.RamRanges);
        var image = BzImage.Parse(new BzImageBuilder { PrefAddress = 0x7F0_0000, KernelAlignment = 0x10_0000 }.Build());

        Assert.Throws<BootException>(() => BzImageLoader.Load(image, memory, Layout));
        Assert.True(memory.GetSpan(new GuestAddress(0x7F0_0000), 0x3000).IndexOfAnyExcept((byte)0) < 0);
    }
}
