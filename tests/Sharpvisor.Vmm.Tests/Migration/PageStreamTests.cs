using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>RAM through a migration stream without KVM: what is sent arrives, and hostile runs are refused.</summary>
public sealed class PageStreamTests
{
    private static readonly (GuestAddress, ulong)[] Ranges = [(new GuestAddress(0), 4UL << 20), (new GuestAddress(1UL << 32), 2UL << 20)];

    private static List<StateSection> Sections(byte[] stream)
    {
        var reader = new StateReader(new MemoryStream(stream), stream.Length);
        var sections = new List<StateSection>();
        while (reader.Next() is { } section)
        {
            sections.Add(section);
        }

        return sections;
    }

    private static byte[] Send(GuestMemory memory, IReadOnlyList<ulong[]>? bitmaps)
    {
        using var stream = new MemoryStream();
        var writer = new StateWriter(stream);
        PageStream.Send(writer, memory, bitmaps, 0, PageStream.NewBatch());
        writer.End();
        return stream.ToArray();
    }

    [Fact]
    public void EveryPageArrivesAndOnlyTheDirtyOnesTheSecondTime()
    {
        using var source = GuestMemory.Create(Ranges);
        using var destination = GuestMemory.Create(Ranges);
        for (ulong page = 0; page < 1024 + 512; page += 3)
        {
            var address = page < 1024 ? new GuestAddress(page * 4096) : new GuestAddress((1UL << 32) + ((page - 1024) * 4096));
            source.Write(address + 8, page + 1);
        }

        var receiver = new PageReceiver(destination);
        Sections(Send(source, null)).ForEach(receiver.Apply);
        Assert.Equal(1024 + 512, receiver.PagesReceived);

        // Round 2: page 3 changed, page 6 became zeros; only those two are marked.
        source.Write(new GuestAddress((3 * 4096) + 8), 99UL);
        source.GetSpan(new GuestAddress(6 * 4096), 4096).Clear();
        var bitmaps = new[] { new ulong[16], new ulong[8] };
        bitmaps[0][0] = (1UL << 3) | (1UL << 6);
        Sections(Send(source, bitmaps)).ForEach(receiver.Apply);
        Assert.Equal(1024 + 512 + 2, receiver.PagesReceived);

        for (var region = 0; region < 2; region++)
        {
            var size = (int)Ranges[region].Item2;
            Assert.True(source.GetSpan(Ranges[region].Item1, size).SequenceEqual(destination.GetSpan(Ranges[region].Item1, size)), $"region {region} differs");
        }
    }

    [Fact]
    public void DirtyPagesAtEveryWordBoundaryAreSentAndNoOtherPage()
    {
        using var source = GuestMemory.Create(Ranges);
        using var destination = GuestMemory.Create(Ranges);
        var receiver = new PageReceiver(destination);
        Sections(Send(source, null)).ForEach(receiver.Apply);
        var first = receiver.PagesReceived;

        // The first and last page of a word, a word's neighbour, a lone bit far on, a region's last page.
        long[] dirty = [0, 63, 64, 127, 640, 1023];
        var bitmaps = new[] { new ulong[16], new ulong[8] };
        foreach (var page in dirty)
        {
            bitmaps[0][page / 64] |= 1UL << (int)(page % 64);
            source.Write(new GuestAddress(((ulong)page * 4096) + 16), (ulong)page + 7);
        }

        source.Write(new GuestAddress((65 * 4096) + 16), 65UL); // written, not marked: must not go
        bitmaps[1][7] = 1UL << 63; // the second region's last page, left as it was (zeros)
        Sections(Send(source, bitmaps)).ForEach(receiver.Apply);

        Assert.Equal(first + dirty.Length + 1, receiver.PagesReceived);
        foreach (var page in dirty)
        {
            Assert.Equal((ulong)page + 7, destination.Read<ulong>(new GuestAddress(((ulong)page * 4096) + 16)));
        }

        Assert.Equal(0UL, destination.Read<ulong>(new GuestAddress((65 * 4096) + 16)));
    }

    [Theory]
    [InlineData(0x1001UL, 1u, (byte)1, "a run of 1 pages at 0x1001 (kind 1) is malformed")]
    [InlineData(0x1000UL, 0u, (byte)1, "a run of 0 pages at 0x1000 (kind 1) is malformed")]
    [InlineData(0x1000UL, 257u, (byte)0, "a run of 257 pages at 0x1000 (kind 0) is malformed")]
    [InlineData(0x1000UL, 1u, (byte)2, "a run of 1 pages at 0x1000 (kind 2) is malformed")]
    [InlineData(0x3FF000UL, 2u, (byte)0, "2 pages at 0x3ff000 are not guest RAM")]
    [InlineData(0x80000000UL, 1u, (byte)0, "1 pages at 0x80000000 are not guest RAM")]
    [InlineData(0xFFFFFFFFFFFFF000UL, 2u, (byte)0, "2 pages at 0xfffffffffffff000 are not guest RAM")]
    public void AHostileRunIsRefused(ulong start, uint count, byte kind, string message)
    {
        using var destination = GuestMemory.Create(Ranges);
        var payload = new StatePayload().U64(start).U32(count).U8(kind);
        var e = Assert.Throws<StateException>(() => new PageReceiver(destination).Apply(new StateSection(StateFormat.Tag("PAGE"), 1, payload.WrittenSpan.ToArray())));
        Assert.Equal("section PAGE: " + message, e.Message);
    }

    [Fact]
    public void ADataRunShorterThanItsCountIsATruncatedSection()
    {
        using var destination = GuestMemory.Create(Ranges);
        var payload = new StatePayload().U64(0x2000).U32(2).U8(1).Raw(new byte[4096]);
        var e = Assert.Throws<StateException>(() => new PageReceiver(destination).Apply(new StateSection(StateFormat.Tag("PAGE"), 1, payload.WrittenSpan.ToArray())));
        Assert.Equal("section PAGE is truncated", e.Message);
    }

    [Fact]
    public void MoreDataThanASectionMayCarryIsRefused()
    {
        using var destination = GuestMemory.Create(Ranges);
        var payload = new StatePayload();
        for (var i = 0; i < 2; i++)
        {
            payload.U64((ulong)i * 256 * 4096).U32(256).U8(1).Raw(new byte[256 * 4096]);
        }

        var e = Assert.Throws<StateException>(() => new PageReceiver(destination).Apply(new StateSection(StateFormat.Tag("PAGE"), 1, payload.WrittenSpan.ToArray())));
        Assert.Equal("section PAGE carries more data than a section may", e.Message);
    }
}
