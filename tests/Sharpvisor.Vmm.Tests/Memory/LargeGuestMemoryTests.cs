using System.Globalization;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Memory;

/// <summary>Measures this process's resident memory, so nothing else may run (and allocate) meanwhile.</summary>
[CollectionDefinition(nameof(ResidentMemoryCollection), DisableParallelization = true)]
public sealed class ResidentMemoryCollection;

[Collection(nameof(ResidentMemoryCollection))]
public sealed class LargeGuestMemoryTests
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    [Fact]
    public void SixtyFourGiBOfRamStaysUnbackedUntilTouched()
    {
        // As a 64 GiB guest is laid out: RAM above the 4 GiB boundary.
        var start = new GuestAddress(4 * GiB);
        const ulong size = 64 * GiB;
        var rssBefore = ResidentKiB();

        using var memory = GuestMemory.Create([(start, size)]);
        var region = Assert.Single(memory.Regions);
        Assert.Equal(size, memory.TotalSize);
        Assert.Equal(start + size, region.End);

        var last = start + (size - 8);
        memory.Write(last, 0x0123_4567_89ab_cdefUL);
        memory.Write(start, (byte)0x5a);
        memory.Write(start + (size / 2), 0xfeedU);
        Assert.Equal(0x0123_4567_89ab_cdefUL, memory.Read<ulong>(last));
        Assert.Equal(0x5a, memory.Read<byte>(start));
        Assert.Equal(0xfeedU, memory.Read<uint>(start + (size / 2)));
        Assert.Equal(0, memory.Read<byte>(start + (size - 4096))); // untouched, still zero
        Assert.Throws<GuestMemoryException>(() => memory.Read<ulong>(last + 1));

        var mappingRss = MappingResidentKiB(region.Mapping.Address);
        var rssGrowth = ResidentKiB() - rssBefore;
        // Three touched pages (huge pages at worst) are resident, not 64 GiB.
        Assert.True(mappingRss < 16 * 1024, $"the 64 GiB mapping has {mappingRss} KiB resident");
        Assert.True(rssGrowth < (long)(64 * MiB / 1024), $"VmRSS grew by {rssGrowth} KiB");
    }

    private static long ResidentKiB()
    {
        var line = File.ReadLines("/proc/self/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>The Rss of the mapping (VMA) containing <paramref name="address"/>, from /proc/self/smaps.</summary>
    private static long MappingResidentKiB(nint address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && ulong.TryParse(line[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var from)
                && ulong.TryParse(line[(dash + 1)..space], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var to))
            {
                inside = from <= (ulong)address && (ulong)address < to;
            }
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                return long.Parse(line["Rss:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"no mapping at 0x{address:x} in /proc/self/smaps");
    }
}
