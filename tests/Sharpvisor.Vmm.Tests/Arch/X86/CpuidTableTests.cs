using System.Text;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Tests.Arch.X86;

public sealed class CpuidTableTests
{
    // A plausible host list: 8-core/16-thread package, APIC ID 7 on the CPU that ran KVM_GET_SUPPORTED_CPUID.
    private static readonly CpuidEntry[] Host =
    [
        new(0, 0, 0, 0x1f, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
        new(1, 0, 0, 0x000a_0671, 0x0710_0800, 0x7ffa_fbff, 0xbfeb_fbff),
        new(4, 0, 1, 0x1c00_4121, 0x01c0_003f, 0x3f, 0),     // L1d, shared by 2 threads on the host
        new(4, 1, 1, 0x1c00_4122, 0x01c0_003f, 0x3f, 0),     // L1i
        new(4, 2, 1, 0x1c00_4143, 0x01c0_003f, 0x3ff, 0),    // L2
        new(4, 3, 1, 0x1c03_c163, 0x02c0_003f, 0x3fff, 6),   // L3, shared by 16
        new(4, 4, 1, 0, 0, 0, 0),                            // no more caches
        new(6, 0, 0, 0x77, 2, 9, 0),
        new(0xa, 0, 0, 0x0830_0805, 0, 0, 0x603),
        new(0xb, 0, 1, 1, 2, 0x100, 7),
        new(0xb, 1, 1, 4, 16, 0x201, 7),
        new(0x1f, 0, 1, 1, 2, 0x100, 7),
        new(0x1f, 1, 1, 4, 16, 0x201, 7),
        new(0x1f, 2, 1, 0, 0, 2, 7),
        new(0x4000_0000, 0, 0, 0x4000_0001, 0, 0, 0),
        new(0x4000_0001, 0, 0, 0x0100_7afb, 0, 0, 0),
        new(0x8000_0000, 0, 0, 0x8000_0008, 0, 0, 0),
    ];

    private static CpuidEntry Leaf(IReadOnlyList<CpuidEntry> entries, uint function, uint index = 0) =>
        Assert.Single(entries, e => e.Function == function && e.Index == index);

    public static TheoryData<int, int> Counts => new() { { 1, 0 }, { 2, 1 }, { 16, 4 }, { 255, 8 }, { 256, 8 }, { 1024, 10 } };

    [Theory]
    [MemberData(nameof(Counts))]
    public void Leaf1IdentifiesEachVcpu(int count, int _)
    {
        foreach (var index in new[] { 0, count / 2, count - 1 }.Distinct())
        {
            var leaf1 = Leaf(CpuidTable.ForVcpu(Host, count, index), 1);

            Assert.Equal((uint)index & 0xff, leaf1.Ebx >> 24);
            Assert.Equal((uint)Math.Min(count, 255), (leaf1.Ebx >> 16) & 0xff);
            Assert.Equal(0x0800U, leaf1.Ebx & 0xffff); // CLFLUSH line size kept
            Assert.Equal(1U, leaf1.Ecx >> 31); // hypervisor present
            Assert.Equal(0x7ffa_fbffU, leaf1.Ecx & 0x7fff_ffff);
            Assert.Equal(count > 1, (leaf1.Edx & (1U << 28)) != 0);
            Assert.Equal(0xbfeb_fbffU & ~(1U << 28), leaf1.Edx & ~(1U << 28));
        }
    }

    [Theory]
    [MemberData(nameof(Counts))]
    public void CacheLeafMatchesOneThreadPerCoreInOnePackage(int count, int _)
    {
        var entries = CpuidTable.ForVcpu(Host, count, count - 1);
        var coresMinusOne = (uint)Math.Min(count, 64) - 1;

        foreach (var index in new uint[] { 0, 1, 2 })
        {
            var eax = Leaf(entries, 4, index).Eax;
            Assert.Equal(coresMinusOne, eax >> 26);
            Assert.Equal(0U, (eax >> 14) & 0xfff); // L1/L2: private to the core
            Assert.Equal(Host[2 + (int)index].Eax & 0x3fff, eax & 0x3fff);
        }

        var l3 = Leaf(entries, 4, 3);
        Assert.Equal(coresMinusOne, l3.Eax >> 26);
        Assert.Equal((uint)count - 1, (l3.Eax >> 14) & 0xfff);
        Assert.Equal((0x02c0_003fU, 0x3fffU, 6U), (l3.Ebx, l3.Ecx, l3.Edx));
        Assert.Equal(new CpuidEntry(4, 4, 1, 0, 0, 0, 0), Leaf(entries, 4, 4));
    }

    [Theory]
    [MemberData(nameof(Counts))]
    public void ExtendedTopologyLeavesDescribeOnePackageOfSingleThreadCores(int count, int coreShift)
    {
        foreach (var function in new uint[] { 0xb, 0x1f })
        {
            for (var index = 0; index < count; index += Math.Max(1, count / 7))
            {
                var entries = CpuidTable.ForVcpu(Host, count, index);
                var x2apicId = (uint)index;
                Assert.Equal(3, entries.Count(e => e.Function == function));
                Assert.Equal(new CpuidEntry(function, 0, 1, 0, 1, 0x100, x2apicId), Leaf(entries, function, 0));
                Assert.Equal(new CpuidEntry(function, 1, 1, (uint)coreShift, (uint)count, 0x201, x2apicId), Leaf(entries, function, 1));
                Assert.Equal(new CpuidEntry(function, 2, 1, 0, 0, 2, x2apicId), Leaf(entries, function, 2));

                // The package ID the guest derives (x2APIC ID >> shift) must be 0 for every vCPU.
                Assert.Equal(0U, x2apicId >> coreShift);
            }

            // The shift is the smallest that still separates every vCPU.
            Assert.True(count - 1 < 1 << coreShift);
            Assert.True(coreShift == 0 || count - 1 >= 1 << (coreShift - 1));
        }
    }

    [Fact]
    public void TopologyLeafAbsentFromTheHostIsNotInvented()
    {
        var withoutLeaf1F = Host.Where(e => e.Function != 0x1f).ToArray();
        Assert.DoesNotContain(CpuidTable.ForVcpu(withoutLeaf1F, 4, 0), e => e.Function == 0x1f);
    }

    [Fact]
    public void KvmSignatureAndUnrelatedLeavesPassThrough()
    {
        var entries = CpuidTable.ForVcpu(Host, 16, 3);

        var signature = Leaf(entries, 0x4000_0000);
        Assert.Equal(0x4000_0001U, signature.Eax);
        var bytes = new[] { signature.Ebx, signature.Ecx, signature.Edx }.SelectMany(BitConverter.GetBytes).ToArray();
        Assert.Equal(Encoding.ASCII.GetBytes("KVMKVMKVM\0\0\0"), bytes);

        Assert.Equal(Host[15], Leaf(entries, 0x4000_0001));
        Assert.Equal(Host[7], Leaf(entries, 6));
        Assert.Equal(Host[8], Leaf(entries, 0xa));
        Assert.Equal(Host[0], Leaf(entries, 0));
        Assert.Equal(Host[16], Leaf(entries, 0x8000_0000));
    }

    [Fact]
    public void KvmSignatureWithoutFeaturesLeafPointsAtItself()
    {
        var host = Host.Where(e => e.Function != 0x4000_0001).ToArray();
        Assert.Equal(0x4000_0000U, Leaf(CpuidTable.ForVcpu(host, 1, 0), 0x4000_0000).Eax);
    }

    [Fact]
    public void DifferentVcpusGetDistinctApicIds()
    {
        var ids = Enumerable.Range(0, 255).Select(i => Leaf(CpuidTable.ForVcpu(Host, 255, i), 1).Ebx >> 24).ToArray();
        Assert.Equal(255, ids.Distinct().Count());
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(4, 4)]
    [InlineData(4, -1)]
    [InlineData(4097, 0)]
    public void InvalidCountOrIndexIsRefused(int count, int index) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuidTable.ForVcpu(Host, count, index));
}
