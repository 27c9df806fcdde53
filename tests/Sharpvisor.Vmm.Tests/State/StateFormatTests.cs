using System.Buffers.Binary;
using Sharpvisor.Vmm.Memory;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Tests.State;

/// <summary>The saved-state format read back, and every way a hostile or damaged file is refused with one clear line.</summary>
public sealed class StateFormatTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-state-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] TwoSections()
    {
        using var stream = new MemoryStream();
        var writer = new StateWriter(stream);
        writer.Section("TEST", 1, new StatePayload().U32(7).U64(0x1122334455667788).Bytes("hello"u8).Bool(true));
        writer.Section("MORE", 2, new StatePayload());
        writer.End();
        return stream.ToArray();
    }

    private static List<StateSection> ReadAll(byte[] bytes)
    {
        var reader = new StateReader(new MemoryStream(bytes), bytes.Length);
        var sections = new List<StateSection>();
        while (reader.Next() is { } section)
        {
            sections.Add(section);
        }

        return sections;
    }

    [Fact]
    public void SectionsReadBackAsWritten()
    {
        var sections = ReadAll(TwoSections());
        Assert.Equal(["TEST", "MORE"], sections.Select(s => s.Name));
        var r = sections[0].Expect(1).Reader();
        Assert.Equal(7u, r.U32());
        Assert.Equal(0x1122334455667788UL, r.U64());
        Assert.Equal("hello"u8.ToArray(), r.Bytes(16).ToArray());
        Assert.True(r.Bool());
        r.ExpectEnd();
        Assert.Equal(2u, sections[1].Version);
    }

    [Fact]
    public void AFlippedByteInAPayloadFailsItsChecksum()
    {
        var bytes = TwoSections();
        bytes[StateFormat.HeaderLength + StateFormat.SectionHeaderLength + 2] ^= 0x40;
        var e = Assert.Throws<StateException>(() => ReadAll(bytes));
        Assert.Equal("section TEST fails its checksum: the file is corrupt", e.Message);
    }

    [Fact]
    public void EveryTruncationIsRefused()
    {
        var bytes = TwoSections();
        for (var length = 0; length < bytes.Length; length++)
        {
            var e = Assert.Throws<StateException>(() => ReadAll(bytes[..length]));
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void ALengthPastTheEndIsRefusedBeforeAnythingIsAllocated()
    {
        var bytes = TwoSections();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(StateFormat.HeaderLength + 8), ulong.MaxValue);
        var e = Assert.Throws<StateException>(() => ReadAll(bytes));
        Assert.Equal($"section TEST claims {ulong.MaxValue} bytes, more than the state holds: the file is truncated or corrupt", e.Message);
    }

    [Fact]
    public void ANewerFormatOrSectionVersionIsRefusedByName()
    {
        var bytes = TwoSections();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), StateFormat.Version + 1);
        var e = Assert.Throws<StateException>(() => ReadAll(bytes));
        Assert.StartsWith($"the state has format version {StateFormat.Version + 1}; this Sharpvisor reads versions 1 to {StateFormat.Version}", e.Message, StringComparison.Ordinal);

        var section = ReadAll(TwoSections())[1];
        e = Assert.Throws<StateException>(() => section.Expect(1));
        Assert.StartsWith("section MORE has version 2; this Sharpvisor reads versions 1 to 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SomethingElseIsNotTakenForAState()
    {
        var e = Assert.Throws<StateException>(() => ReadAll("#!/bin/sh\necho not a snapshot\n"u8.ToArray()));
        Assert.Equal("not a Sharpvisor state: its first bytes are not SVSTATE", e.Message);
    }

    [Fact]
    public void AFieldLongerThanItsLimitOrAPayloadWithBytesLeftOverIsRefused()
    {
        var section = ReadAll(TwoSections())[0];
        var e = Assert.Throws<StateException>(() =>
        {
            var r = section.Reader();
            r.U32();
            r.U64();
            r.Bytes(4);
        });
        Assert.Equal("section TEST: a field of 5 bytes is longer than its limit of 4", e.Message);
        e = Assert.Throws<StateException>(() => section.Reader().ExpectEnd());
        Assert.Contains("bytes left over after its last field", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASnapshotFileKeepsRamSparseAndMapsItBackCopyOnWrite()
    {
        var path = Path.Combine(_directory, "ram.snap");
        var ranges = new[] { (new GuestAddress(0), 8UL << 20), (new GuestAddress(1UL << 32), 4UL << 20) };
        using (var memory = GuestMemory.Create(ranges))
        {
            memory.Write(new GuestAddress(0x1000), 0xAAUL);
            memory.Write(new GuestAddress((1UL << 32) + (3UL << 20)), 0xBBUL);
            var written = SnapshotFile.Write(path, w => w.Section("TEST", 1, new StatePayload().U32(1)), memory);
            Assert.Equal(2 * 4096, written);
        }

        Assert.False(File.Exists(path + ".partial"));
        using var image = SnapshotFile.OpenRestore(path);
        Assert.Equal(["TEST"], image.Sections.Select(s => s.Name));
        using var restored = image.MapMemory(ranges);
        Assert.Equal(0xAAUL, restored.Read<ulong>(new GuestAddress(0x1000)));
        Assert.Equal(0xBBUL, restored.Read<ulong>(new GuestAddress((1UL << 32) + (3UL << 20))));
        Assert.Equal(0UL, restored.Read<ulong>(new GuestAddress(0x2000)));

        // The guest's writes stay in its own copy: the snapshot can be restored again, as it was.
        restored.Write(new GuestAddress(0x1000), 0xCCUL);
        using var again = SnapshotFile.OpenRestore(path);
        using var second = again.MapMemory(ranges);
        Assert.Equal(0xAAUL, second.Read<ulong>(new GuestAddress(0x1000)));

        var e = Assert.Throws<StateException>(() => again.MapMemory([(new GuestAddress(0), 16UL << 20)]));
        Assert.StartsWith("the snapshot's RAM (0x0+8 MiB, 0x100000000+4 MiB) is not this VM's", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASnapshotCutBeforeItsRamBeginsIsRefusedNotMappedPastItsEnd()
    {
        var path = Path.Combine(_directory, "cut.snap");
        using (var memory = GuestMemory.Create([(new GuestAddress(0), 1UL << 20)]))
        {
            SnapshotFile.Write(path, w => w.Section("TEST", 1, new StatePayload().U32(1)), memory);
        }

        // Just after the end marker: the RAM would start at the next 4 KiB boundary, past the end of the file.
        var endOfSections = StateFormat.HeaderLength + (2 * (StateFormat.SectionHeaderLength + 4)) + 4 + 4 + 16 + 4 + StateFormat.SectionHeaderLength + 4;
        using (var file = File.OpenWrite(path))
        {
            file.SetLength(endOfSections);
        }

        var e = Assert.Throws<StateException>(() => SnapshotFile.OpenRestore(path));
        Assert.StartsWith("the snapshot is truncated: RAM at 0x0 needs 1048576 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AStateWithMoreSectionsThanAVmMakesIsRefused()
    {
        var budget = new StateSectionBudget();
        var section = new StateSection(StateFormat.Tag("CPU "), 1, new byte[1024]);
        for (var i = 0; i < StateSectionBudget.MaxSections; i++)
        {
            budget.Add(section);
        }

        var e = Assert.Throws<StateException>(() => budget.Add(section));
        Assert.StartsWith("the state has more sections than a VM makes", e.Message, StringComparison.Ordinal);
        Assert.Throws<StateException>(() => new StateSectionBudget().Add(new StateSection(1, 1, new byte[StateSectionBudget.MaxTotalBytes + 1])));
    }

    [Fact]
    public void ASnapshotWithItsRamCutShortIsRefused()
    {
        var path = Path.Combine(_directory, "short.snap");
        using (var memory = GuestMemory.Create([(new GuestAddress(0), 1UL << 20)]))
        {
            SnapshotFile.Write(path, _ => { }, memory);
        }

        using (var file = File.OpenWrite(path))
        {
            file.SetLength(file.Length - 4096);
        }

        var e = Assert.Throws<StateException>(() => SnapshotFile.OpenRestore(path));
        Assert.StartsWith("the snapshot is truncated: RAM at 0x0 needs 1048576 bytes", e.Message, StringComparison.Ordinal);
    }
}
