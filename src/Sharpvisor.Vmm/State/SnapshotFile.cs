using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.State;

/// <summary>
/// A snapshot on disk: the state sections (<see cref="StateFormat"/>), then guest RAM from the next 4 KiB boundary,
/// region after region in address order, each a byte-for-byte image. Pages that hold only zeros are not written
/// (the file has holes there), so a 4 GiB guest that touched 100 MiB costs about 100 MiB of disk; and a restore maps
/// the images privately instead of reading them (<see cref="OpenRestore"/>), so it takes milliseconds and pages come
/// in as the guest touches them. RAM carries no checksum for that reason: reading it all would undo the lazy restore.
/// </summary>
public static class SnapshotFile
{
    public const int PageSize = 4096;

    public const uint RamSectionVersion = 1;

    // One write per run of non-zero pages, at most this long.
    private const int MaxRun = 1 << 20;

    // A guest has a handful of RAM regions (below and above the 32-bit hole); a file listing more is corrupt.
    private const int MaxRegions = 64;

    /// <summary>
    /// Writes the snapshot to a temporary file beside <paramref name="path"/> and renames it into place, so a crash or
    /// a full disk leaves no half-written snapshot under that name. Returns the bytes of RAM written.
    /// </summary>
    public static long Write(string path, Action<StateWriter> writeSections, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(writeSections);
        ArgumentNullException.ThrowIfNull(memory);
        var full = Path.GetFullPath(path);
        var partial = full + ".partial";
        long ramWritten = 0;
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                var writer = new StateWriter(stream);
                writeSections(writer);
                var ram = new StatePayload().U32((uint)memory.Regions.Count);
                foreach (var region in memory.Regions)
                {
                    ram.U64(region.Start.Value).U64(region.Size);
                }

                writer.Section("RAM ", RamSectionVersion, ram);
                writer.End();
                stream.Flush();
                var offset = AlignUp(stream.Position);
                foreach (var region in memory.Regions)
                {
                    ramWritten += WriteRegion(stream.SafeFileHandle, offset, memory, region);
                    offset += (long)region.Size;
                }

                // The length covers the trailing holes too: the mapping of the last region must not run past the end.
                RandomAccess.SetLength(stream.SafeFileHandle, offset);
                stream.Flush(flushToDisk: true);
            }

            File.Move(partial, full, overwrite: true);
            return ramWritten;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>
    /// Opens a snapshot for a restore: reads and checks every section, and returns them with a function that maps each
    /// RAM region from the file. The ranges the caller asks for must be the ones saved.
    /// </summary>
    public static SnapshotImage OpenRestore(string path)
    {
        FileStream stream;
        try
        {
            // Unbuffered: sections are read whole, and the handle is also the one RAM is mapped from. A confined VMM
            // gets the file opened by its launcher (its uid may not open it).
            stream = InheritedFiles.Take(path) is { } inherited
                ? new FileStream(inherited, FileAccess.Read, bufferSize: 0)
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StateException($"cannot open the snapshot {path}: {e.Message}");
        }

        try
        {
            var length = stream.Length;
            var reader = new StateReader(stream, length);
            var sections = new StateSectionBudget();
            (GuestAddress Start, ulong Size)[]? ram = null;
            while (reader.Next() is { } section)
            {
                if (section.Name == "RAM ")
                {
                    ram = ram is null ? ReadRamSection(section) : throw new StateException("the snapshot has two RAM sections");
                }
                else
                {
                    sections.Add(section);
                }
            }

            if (ram is null)
            {
                throw new StateException("the snapshot has no RAM section");
            }

            var offsets = new Dictionary<ulong, long>();
            var offset = AlignUp(reader.Consumed);
            foreach (var (start, size) in ram)
            {
                if (offset > length || size > (ulong)(length - offset))
                {
                    throw new StateException($"the snapshot is truncated: RAM at {start} needs {size} bytes from offset {offset}, the file has {length}");
                }

                offsets[start.Value] = offset;
                offset += (long)size;
            }

            return new SnapshotImage(stream, sections.Sections, ram, offsets);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static (GuestAddress Start, ulong Size)[] ReadRamSection(StateSection section)
    {
        var r = section.Expect(RamSectionVersion).Reader();
        var count = r.U32();
        if (count is 0 or > MaxRegions)
        {
            throw new StateException($"section RAM lists {count} regions");
        }

        var ranges = new (GuestAddress, ulong)[count];
        for (var i = 0; i < count; i++)
        {
            var start = r.U64();
            var size = r.U64();
            if (size == 0 || size % PageSize != 0 || start % PageSize != 0 || size > ulong.MaxValue - start)
            {
                throw new StateException($"section RAM: region 0x{start:x}+0x{size:x} is not a page-aligned range");
            }

            ranges[i] = (new GuestAddress(start), size);
        }

        r.ExpectEnd();
        return ranges;
    }

    private static long WriteRegion(SafeFileHandle file, long fileOffset, GuestMemory memory, GuestRegion region)
    {
        long written = 0;
        var zeros = new ZeroPages(memory, region);
        var pages = (long)(region.Size / PageSize);
        // Runs of non-zero pages become one write each (at most MaxRun bytes); zero pages are skipped, leaving holes.
        for (long page = 0; page < pages;)
        {
            if (zeros.IsZero(page))
            {
                page++;
                continue;
            }

            var end = page + 1;
            while (end < pages && end - page < MaxRun / PageSize && !zeros.IsZero(end))
            {
                end++;
            }

            var length = (int)((end - page) * PageSize);
            RandomAccess.Write(file, memory.GetSpan(region.Start + ((ulong)page * PageSize), length), fileOffset + (page * PageSize));
            written += length;
            page = end;
        }

        return written;
    }

    private static long AlignUp(long value) => (value + PageSize - 1) & ~(long)(PageSize - 1);
}

/// <summary>An opened snapshot: its checked sections, and its RAM images ready to be mapped.</summary>
public sealed class SnapshotImage(FileStream file, IReadOnlyList<StateSection> sections,
    IReadOnlyList<(GuestAddress Start, ulong Size)> ram, Dictionary<ulong, long> offsets) : IDisposable
{
    public IReadOnlyList<StateSection> Sections { get; } = sections;

    public IReadOnlyList<(GuestAddress Start, ulong Size)> Ram { get; } = ram;

    public IEnumerable<StateSection> All(string tag) => Sections.Where(s => s.Name == tag);

    public StateSection One(string tag) =>
        Sections.SingleOrDefault(s => s.Name == tag) ?? throw new StateException($"the snapshot has no {tag.Trim()} section");

    /// <summary>Guest RAM over the file's images, copy-on-write; <paramref name="ranges"/> must be the saved ones.</summary>
    public GuestMemory MapMemory(IReadOnlyList<(GuestAddress Start, ulong Size)> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        if (!ranges.SequenceEqual(Ram))
        {
            throw new StateException($"the snapshot's RAM ({Describe(Ram)}) is not this VM's ({Describe(ranges)})");
        }

        return GuestMemory.Create(ranges, (start, size) => HostMemoryMapping.CreatePrivateFile(file.SafeFileHandle, offsets[start.Value], size));
    }

    public void Dispose() => file.Dispose();

    private static string Describe(IEnumerable<(GuestAddress Start, ulong Size)> ranges) =>
        string.Join(", ", ranges.Select(r => $"{r.Start}+{r.Size >> 20} MiB"));
}
