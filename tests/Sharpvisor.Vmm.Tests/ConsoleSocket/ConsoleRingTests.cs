using Sharpvisor.Vmm.ConsoleSocket;

namespace Sharpvisor.Vmm.Tests.ConsoleSocket;

public sealed class ConsoleRingTests
{
    private static byte[] Sequence(int start, int count) => [.. Enumerable.Range(start, count).Select(i => (byte)(i % 251))];

    [Fact]
    public void KeepsEverythingBelowCapacityInOrder()
    {
        var ring = new ConsoleRing();
        ring.Append("abc"u8);
        ring.Append("def"u8);
        Assert.Equal("abcdef"u8.ToArray(), ring.Snapshot());
    }

    [Fact]
    public void ExactlyCapacityIsKeptWhole()
    {
        var ring = new ConsoleRing();
        var data = Sequence(0, ConsoleRing.DefaultCapacity);
        ring.Append(data.AsSpan(0, 1000));
        ring.Append(data.AsSpan(1000));
        Assert.Equal(64 * 1024, ring.Count);
        Assert.Equal(data, ring.Snapshot());
    }

    [Fact]
    public void WrapsKeepingTheNewestBytesOldestFirst()
    {
        var ring = new ConsoleRing(10);
        ring.Append(Sequence(0, 7));
        ring.Append(Sequence(7, 7)); // wraps: 0..13 written, 4..13 kept
        Assert.Equal(Sequence(4, 10), ring.Snapshot());
        ring.Append(Sequence(14, 3));
        Assert.Equal(Sequence(7, 10), ring.Snapshot());
    }

    [Fact]
    public void AWriteLargerThanTheRingKeepsItsTail()
    {
        var ring = new ConsoleRing();
        ring.Append("x"u8);
        var big = Sequence(0, 200_000);
        ring.Append(big);
        Assert.Equal(big[^ConsoleRing.DefaultCapacity..], ring.Snapshot());
        ring.Append("yz"u8);
        Assert.Equal([.. big[^(ConsoleRing.DefaultCapacity - 2)..], (byte)'y', (byte)'z'], ring.Snapshot());
    }

    [Fact]
    public void ByteByByteMatchesTheLastCapacityBytes()
    {
        var ring = new ConsoleRing(100);
        var data = Sequence(0, 1234);
        foreach (var b in data)
        {
            ring.Append([b]);
        }

        Assert.Equal(data[^100..], ring.Snapshot());
    }
}
