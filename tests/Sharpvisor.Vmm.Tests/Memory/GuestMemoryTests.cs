using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Memory;

public sealed class GuestMemoryTests : IDisposable
{
    private const ulong KiB = 1UL << 10;

    // Two regions with a gap between them, given out of order on purpose: [64K, 128K) and [256K, 320K).
    private const ulong LowStart = 64 * KiB;
    private const ulong LowEnd = 128 * KiB;
    private const ulong HighStart = 256 * KiB;
    private const ulong HighEnd = 320 * KiB;

    private readonly GuestMemory _memory = GuestMemory.Create([
        (new GuestAddress(HighStart), HighEnd - HighStart),
        (new GuestAddress(LowStart), LowEnd - LowStart),
    ]);

    public void Dispose() => _memory.Dispose();

    private static GuestAddress At(ulong value) => new(value);

    [Fact]
    public void CreateSortsRegionsAndSumsTheirSizes()
    {
        Assert.Equal([At(LowStart), At(HighStart)], _memory.Regions.Select(r => r.Start));
        Assert.Equal([At(LowEnd), At(HighEnd)], _memory.Regions.Select(r => r.End));
        Assert.Equal([64 * KiB, 64 * KiB], _memory.Regions.Select(r => r.Size));
        Assert.Equal(128 * KiB, _memory.TotalSize);
        Assert.All(_memory.Regions, r => Assert.Equal(r.Size, r.Mapping.Size));
    }

    [Fact]
    public void TotalSizeAddsUnequalRegions()
    {
        using var memory = GuestMemory.Create([(At(0), 4 * KiB), (At(1UL << 32), 12 * KiB), (At(64 * KiB), 8 * KiB)]);
        Assert.Equal(24 * KiB, memory.TotalSize);
        Assert.Equal(3, memory.Regions.Count);
    }

    [Fact]
    public void FreshMemoryReadsAsZero()
    {
        Assert.All(_memory.Regions, r => Assert.True(_memory.GetSpan(r.Start, (int)r.Size).IndexOfAnyExcept((byte)0) < 0));
    }

    [Theory]
    [InlineData(LowStart)]
    [InlineData(LowEnd - 8)]
    [InlineData(HighStart)]
    [InlineData(HighEnd - 8)]
    [InlineData(LowStart + 13)] // unaligned
    public void ValuesRoundTripAtRegionEdges(ulong address)
    {
        _memory.Write(At(address), 0x1122_3344_5566_7788UL);

        Assert.Equal(0x1122_3344_5566_7788UL, _memory.Read<ulong>(At(address)));
        Assert.Equal(0x5566_7788U, _memory.Read<uint>(At(address)));
        // Little-endian in guest memory, as an x86 guest sees it.
        Assert.Equal(new byte[] { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, _memory.GetSpan(At(address), 8).ToArray());
    }

    [Fact]
    public void LastByteOfEachRegionIsAccessible()
    {
        _memory.Write(At(LowEnd - 1), (byte)0xa5);
        _memory.Write(At(HighEnd - 1), (byte)0x5a);

        Assert.Equal(0xa5, _memory.Read<byte>(At(LowEnd - 1)));
        Assert.Equal(0x5a, _memory.Read<byte>(At(HighEnd - 1)));
        Assert.True(_memory.IsValid(At(LowEnd - 1), 1));
        Assert.True(_memory.IsValid(At(LowStart), LowEnd - LowStart));
    }

    [Fact]
    public void SpansRoundTripUpToTheRegionEnd()
    {
        var data = Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 + 7)).ToArray();
        _memory.Write(At(LowEnd - 4096), data);
        _memory.Write(At(HighStart), data);

        var back = new byte[4096];
        _memory.Read(At(LowEnd - 4096), back);
        Assert.Equal(data, back);
        Array.Clear(back);
        _memory.Read(At(HighStart), back);
        Assert.Equal(data, back);

        // The bytes just before the written span are untouched.
        Assert.Equal(0, _memory.Read<byte>(At(LowEnd - 4097)));
    }

    [Fact]
    public void RegionsAreBackedByDistinctHostMemory()
    {
        _memory.Write(At(LowStart), 0xdead_beefU);
        Assert.Equal(0U, _memory.Read<uint>(At(HighStart)));
        Assert.NotEqual(_memory.Regions[0].Mapping.Address, _memory.Regions[1].Mapping.Address);
    }

    [Fact]
    public void WholeRegionSpanCoversTheMapping()
    {
        var span = _memory.GetSpan(At(HighStart), (int)(HighEnd - HighStart));
        span[^1] = 0x42;
        Assert.Equal(0x42, _memory.Read<byte>(At(HighEnd - 1)));
    }

    [Theory]
    [InlineData(LowEnd - 4, 8)] // straddles the end of the low region
    [InlineData(LowEnd - 1, 2)]
    [InlineData(LowEnd, 1)] // first byte of the gap
    [InlineData(LowEnd + 100, 4)] // inside the gap
    [InlineData(HighStart - 1, 2)] // from the gap into the high region
    [InlineData(LowEnd - 8, 0x20_000)] // from the low region across the gap into the high one
    [InlineData(HighEnd - 8, 9)]
    [InlineData(HighEnd, 1)] // above all RAM
    [InlineData(0UL, 1)] // below all RAM
    [InlineData(LowStart - 2, 4)] // from below into the low region
    [InlineData(LowStart, 0x10_001)] // one byte more than the region
    [InlineData(ulong.MaxValue, 1)]
    [InlineData(ulong.MaxValue - 7, 8)]
    [InlineData(ulong.MaxValue - 3, 8)] // wraps past 2^64 ...
    [InlineData(ulong.MaxValue - 15, (int)LowStart + 32)] // ... to end inside the low region
    public void AccessesOutsideOneRegionThrowAndTouchNothing(ulong address, int length)
    {
        var sentinel = Enumerable.Repeat((byte)0xcc, length).ToArray();
        var before = Snapshot();

        var e = Assert.Throws<GuestMemoryException>(() => _memory.GetSpan(At(address), length));
        Assert.Equal(At(address), e.Address);
        Assert.Equal((ulong)length, e.Length);

        Assert.Throws<GuestMemoryException>(() => _memory.Write(At(address), sentinel));
        var destination = (byte[])sentinel.Clone();
        Assert.Throws<GuestMemoryException>(() => _memory.Read(At(address), destination));
        Assert.Equal(sentinel, destination);
        Assert.False(_memory.IsValid(At(address), (ulong)length));

        Assert.Equal(before, Snapshot());
    }

    [Theory]
    [InlineData(LowEnd - 7)]
    [InlineData(LowEnd - 1)]
    [InlineData(HighStart - 4)]
    [InlineData(ulong.MaxValue - 3)]
    public void ValueAccessesStraddlingAnEdgeThrow(ulong address)
    {
        _memory.Write(At(LowEnd - 8), 0x0102_0304_0506_0708UL);

        Assert.Throws<GuestMemoryException>(() => _memory.Read<ulong>(At(address)));
        Assert.Throws<GuestMemoryException>(() => _memory.Write(At(address), ulong.MaxValue));

        Assert.Equal(0x0102_0304_0506_0708UL, _memory.Read<ulong>(At(LowEnd - 8)));
    }

    [Fact]
    public void IsValidWithHugeLengthsDoesNotWrap()
    {
        Assert.False(_memory.IsValid(At(LowStart), ulong.MaxValue));
        Assert.False(_memory.IsValid(At(LowStart + 1), ulong.MaxValue));
        Assert.False(_memory.IsValid(At(HighEnd - 1), ulong.MaxValue - HighEnd + 2));
    }

    [Fact]
    public void ZeroLengthAccessInsideARegionIsAllowed()
    {
        Assert.True(_memory.GetSpan(At(LowStart + 5), 0).IsEmpty);
        Assert.True(_memory.IsValid(At(HighStart), 0));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void NegativeLengthsThrowArgumentOutOfRange(int length)
    {
        var before = Snapshot();
        Assert.Throws<ArgumentOutOfRangeException>(() => _memory.GetSpan(At(LowStart), length));
        Assert.Equal(before, Snapshot());
    }

    [Theory]
    [InlineData(0x1000UL, 0x2000UL, 0x2000UL, 0x1000UL)] // second starts inside the first
    [InlineData(0x1000UL, 0x1000UL, 0x1000UL, 0x1000UL)] // identical
    [InlineData(0x1000UL, 0x4000UL, 0x2000UL, 0x1000UL)] // second inside the first
    [InlineData(0x2000UL, 0x1000UL, 0x1000UL, 0x4000UL)] // first inside the second
    [InlineData(0x2000UL, 0x2000UL, 0x1000UL, 0x1001UL)] // second ends one byte into the first
    public void OverlappingRangesAreRejected(ulong start1, ulong size1, ulong start2, ulong size2)
    {
        Assert.Throws<ArgumentException>(() => GuestMemory.Create([(At(start1), size1), (At(start2), size2)]));
    }

    [Fact]
    public void AdjacentRangesAreSeparateRegions()
    {
        using var memory = GuestMemory.Create([(At(0x1000), 0x1000), (At(0x2000), 0x1000)]);

        Assert.Equal(2, memory.Regions.Count);
        memory.Write(At(0x1ffc), 0xaabbccddU);
        memory.Write(At(0x2000), 0x11223344U);
        Assert.Equal(0xaabbccddU, memory.Read<uint>(At(0x1ffc)));
        // Adjacent regions are separate host mappings: one access may not span both.
        Assert.Throws<GuestMemoryException>(() => memory.Read<ulong>(At(0x1ffc)));
        Assert.False(memory.IsValid(At(0x1000), 0x2000));
    }

    [Fact]
    public void RangesWrappingPastTheEndOfTheAddressSpaceAreRejected()
    {
        Assert.Throws<ArgumentException>(() => GuestMemory.Create([(At(ulong.MaxValue - 0xfff), 0x2000)]));
        // A wrapping range must not hide an overlap either.
        Assert.Throws<ArgumentException>(() => GuestMemory.Create([
            (At(0xffff_ffff_ffff_0000), 0x2_0000),
            (At(0xffff_ffff_ffff_8000), 0x1000),
        ]));
    }

    [Fact]
    public void ZeroSizedRangesAreRejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => GuestMemory.Create([(At(0x1000), 0x1000), (At(0x10000), 0)]));
    }

    [Fact]
    public void NoRangesGiveEmptyMemory()
    {
        using var memory = GuestMemory.Create([]);
        Assert.Equal(0UL, memory.TotalSize);
        Assert.Empty(memory.Regions);
        Assert.Throws<GuestMemoryException>(() => memory.Read<byte>(At(0)));
    }

    [Fact]
    public void DisposeUnmapsEveryRegionAndIsIdempotent()
    {
        var memory = GuestMemory.Create([(At(0), 0x1000), (At(0x10000), 0x1000)]);
        memory.Write(At(0x10), 1);

        memory.Dispose();
        memory.Dispose();

        Assert.All(memory.Regions, r => Assert.Throws<ObjectDisposedException>(() => r.Mapping.Address));
        Assert.Throws<ObjectDisposedException>(() => memory.Read<int>(At(0x10)));
        Assert.Throws<ObjectDisposedException>(() => memory.Write(At(0x10000), 2));
    }

    private byte[] Snapshot()
    {
        var bytes = new List<byte>();
        foreach (var region in _memory.Regions)
        {
            bytes.AddRange(_memory.GetSpan(region.Start, (int)region.Size).ToArray());
        }

        return [.. bytes];
    }

    [Fact]
    public void SnapshotSeesWritesSoTheUntouchedChecksMeanSomething()
    {
        var before = Snapshot();
        _memory.Write(At(HighEnd - 4), 1U);
        Assert.NotEqual(before, Snapshot());
    }
}
