using System.Buffers.Binary;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class PvhStartInfoTests : IDisposable
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    private static readonly LoadedKernel Kernel = new(new GuestAddress(0x100_0000), new GuestAddress(0x100_0000), new GuestAddress(0x180_0000));

    private readonly GuestMemory _memory = GuestMemory.Create([(new GuestAddress(0), 128 * MiB)]);

    public void Dispose() => _memory.Dispose();

    private byte[] Read(ulong address, int length) => _memory.GetSpan(new GuestAddress(address), length).ToArray();

    private uint U32(ulong address) => BinaryPrimitives.ReadUInt32LittleEndian(Read(address, 4));

    private ulong U64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(Read(address, 8));

    [Fact]
    public void StartInfoHasTheAbiLayout()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        var initrd = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7)).ToArray();
        var startInfo = new PvhStartInfo { CommandLine = "console=ttyS0 root=/dev/vda", Initrd = initrd, RsdpAddress = new GuestAddress(0xe_0000) };

        var ebx = startInfo.WriteTo(_memory, layout, Kernel).Value;

        Assert.Equal(0x6000UL, ebx);
        Assert.Equal(0x336ec578U, U32(ebx + 0)); // magic
        Assert.Equal(1U, U32(ebx + 4)); // version
        Assert.Equal(0U, U32(ebx + 8)); // flags
        Assert.Equal(1U, U32(ebx + 12)); // nr_modules
        Assert.Equal(0x7000UL, U64(ebx + 16)); // modlist_paddr
        Assert.Equal(0x20000UL, U64(ebx + 24)); // cmdline_paddr
        Assert.Equal(0xe0000UL, U64(ebx + 32)); // rsdp_paddr
        Assert.Equal(0x6040UL, U64(ebx + 40)); // memmap_paddr
        Assert.Equal(4U, U32(ebx + 48)); // memmap_entries
        Assert.Equal(0U, U32(ebx + 52)); // reserved

        (ulong Addr, ulong Size, uint Type)[] expectedMap = [(0, 0x9fc00, 1), (0x9fc00, 0x60400, 2), (0x100000, 0x7f00000, 1), (0xe000_0000, 0x10_0000, 2)];
        for (var i = 0; i < expectedMap.Length; i++)
        {
            var entry = 0x6040UL + ((ulong)i * 24);
            Assert.Equal(expectedMap[i], (U64(entry), U64(entry + 8), U32(entry + 16)));
            Assert.Equal(0U, U32(entry + 20));
        }

        // The initrd sits page-aligned at the top of the 128 MiB: 0x8000000 - 10000 rounded down to 4 KiB.
        Assert.Equal(0x7ffd000UL, U64(0x7000)); // paddr
        Assert.Equal(10_000UL, U64(0x7008)); // size
        Assert.Equal(0UL, U64(0x7010)); // cmdline_paddr
        Assert.Equal(0UL, U64(0x7018)); // reserved
        Assert.Equal(initrd, Read(0x7ffd000, initrd.Length));

        Assert.Equal("console=ttyS0 root=/dev/vda\0"u8.ToArray(), Read(0x20000, 28));
    }

    [Fact]
    public void WithoutInitrdThereAreNoModules()
    {
        var layout = new MemoryLayout(4 * GiB, 40); // only low memory is written, so 128 MiB of real RAM is enough

        var ebx = new PvhStartInfo().WriteTo(_memory, layout, Kernel).Value;

        Assert.Equal(0U, U32(ebx + 12));
        Assert.Equal(0UL, U64(ebx + 16));
        Assert.Equal(0UL, U64(ebx + 32));
        Assert.Equal(5U, U32(ebx + 48));
        Assert.Equal((0x1_0000_0000UL, GiB, 1U), (U64(0x6040 + 96), U64(0x6040 + 104), U32(0x6040 + 112)));
        Assert.Equal(0, Read(0x20000, 1)[0]);
    }

    [Fact]
    public void CommandLineAtTheLimitFitsAndOneMoreByteIsRefused()
    {
        var layout = new MemoryLayout(128 * MiB, 40);
        new PvhStartInfo { CommandLine = new string('a', 65535) }.WriteTo(_memory, layout, Kernel);
        Assert.Equal(0, Read(0x20000 + 65535, 1)[0]);

        var error = Assert.Throws<BootException>(() => new PvhStartInfo { CommandLine = new string('a', 65536) }.WriteTo(_memory, layout, Kernel));
        Assert.Equal("kernel command line is 65536 bytes; the limit is 65535 bytes", error.Message);
    }

    [Fact]
    public void CommandLineWithNulIsRefused() =>
        Assert.Throws<BootException>(() => new PvhStartInfo { CommandLine = "a\0b" }.WriteTo(_memory, new MemoryLayout(128 * MiB, 40), Kernel));

    [Fact]
    public void InitrdGoesBelowTheHoleInBigGuests()
    {
        var address = PvhStartInfo.PlaceInitrd(new MemoryLayout(64 * GiB, 40), Kernel, (10 * MiB) + 1);
        Assert.Equal(0xc000_0000UL - (10 * MiB) - 0x1000, address.Value);
    }

    [Fact]
    public void InitrdThatWouldOverlapTheKernelIsRefused()
    {
        var layout = new MemoryLayout(32 * MiB, 40);

        Assert.Equal(0x180_0000UL, PvhStartInfo.PlaceInitrd(layout, Kernel, 8 * MiB).Value); // exactly fits above the kernel
        var error = Assert.Throws<BootException>(() => PvhStartInfo.PlaceInitrd(layout, Kernel, (8 * MiB) + 1));
        Assert.Contains("initrd of 8388609 bytes does not fit in guest RAM", error.Message, StringComparison.Ordinal);
        Assert.Throws<BootException>(() => PvhStartInfo.PlaceInitrd(layout, Kernel, 64 * MiB));
    }

    [Fact]
    public void InitrdNeverGoesBelowOneMiB()
    {
        var layout = new MemoryLayout(16 * MiB, 40);
        var kernelElsewhere = new LoadedKernel(new GuestAddress(0x1_0000_0000), new GuestAddress(0x1_0000_0000), new GuestAddress(0x1_0010_0000));
        Assert.Equal(0x10_0000UL, PvhStartInfo.PlaceInitrd(layout, kernelElsewhere, 15 * MiB).Value);
        Assert.Throws<BootException>(() => PvhStartInfo.PlaceInitrd(layout, kernelElsewhere, (15 * MiB) + 1));
    }
}
