using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>Creating an empty version 3 image.</summary>
public sealed partial class Qcow2Image
{
    private const int CreatedHeaderLength = 112; // the v3 header with its compression type byte, padded to 8
    private const uint BackingFormatExtensionType = 0xe2792aca;

    /// <summary>
    /// Creates an empty version 3 image of <paramref name="size"/> bytes (a multiple of 512; zlib, 16-bit refcounts, no
    /// lazy refcounts) at <paramref name="path"/>, which must not exist yet, over an optional backing file whose format
    /// is probed when not given (a relative name is relative to the image's directory). The refcount table is sized up
    /// front for twice the virtual size plus metadata, since this implementation cannot grow it later.
    /// </summary>
    public static void Create(string path, ulong size, int clusterBits = 16, string? backingFile = null, string? backingFormat = null)
    {
        if (clusterBits is < Qcow2Limits.MinClusterBits or > Qcow2Limits.MaxClusterBits)
        {
            throw new ArgumentOutOfRangeException(nameof(clusterBits), $"cluster_bits {clusterBits} outside 9..21");
        }

        if (size % 512 != 0)
        {
            // qemu rounds a disk to whole sectors; a size it would show differently is refused rather than rounded.
            throw new ArgumentException($"virtual size {size} is not a multiple of 512", nameof(size));
        }

        var l1Entries = Qcow2Header.L1EntriesFor(size, (uint)clusterBits);
        if (size > long.MaxValue || l1Entries * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"virtual size {size} needs an L1 table over 32 MiB");
        }

        var backingName = backingFile is null ? null : Encoding.UTF8.GetBytes(backingFile);
        if (backingName is { Length: 0 or > Qcow2Limits.MaxBackingNameBytes })
        {
            throw new ArgumentException($"backing file name of {backingName.Length} bytes", nameof(backingFile));
        }

        if (backingFile is not null && backingFormat is null)
        {
            var resolved = Path.IsPathRooted(backingFile)
                ? backingFile
                : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/", backingFile);
            backingFormat = ImageFormat.Name(ImageFormat.Probe(resolved));
        }

        if (backingFormat is not null && ImageFormat.FromName(backingFormat) is null)
        {
            throw new NotSupportedException($"backing file format \"{backingFormat}\" is not supported");
        }

        var layout = new CreateLayout(size, clusterBits, (long)l1Entries);
        var header = BuildHeaderCluster(size, clusterBits, layout, backingName, backingFormat);

        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        RandomAccess.SetLength(file, layout.FileLength);
        RandomAccess.Write(file, header, 0);
        RandomAccess.Write(file, layout.RefcountTable(), layout.RefcountTableOffset);
        RandomAccess.Write(file, layout.RefcountBlocks(), layout.RefcountBlocksOffset);
        RandomAccess.FlushToDisk(file);
    }

    private static byte[] BuildHeaderCluster(ulong size, int clusterBits, CreateLayout layout, byte[]? backingName, string? backingFormat)
    {
        var header = new byte[1L << clusterBits];
        var h = header.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(h, ImageFormat.Qcow2Magic);
        BinaryPrimitives.WriteUInt32BigEndian(h[4..], 3);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], (uint)clusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(h[24..], size);
        BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)layout.L1Entries);
        BinaryPrimitives.WriteUInt64BigEndian(h[40..], (ulong)layout.L1Offset);
        BinaryPrimitives.WriteUInt64BigEndian(h[48..], (ulong)layout.RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(h[56..], (uint)layout.RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(h[96..], 4); // refcount_order 4: 16-bit refcounts
        BinaryPrimitives.WriteUInt32BigEndian(h[100..], CreatedHeaderLength);

        var position = CreatedHeaderLength;
        if (backingFormat is not null)
        {
            var name = Encoding.ASCII.GetBytes(backingFormat);
            BinaryPrimitives.WriteUInt32BigEndian(h[position..], BackingFormatExtensionType);
            BinaryPrimitives.WriteUInt32BigEndian(h[(position + 4)..], (uint)name.Length);
            name.CopyTo(h[(position + 8)..]);
            position += 8 + ((name.Length + 7) & ~7);
        }

        position += 8; // the end-of-extensions marker: type 0, length 0 (already zero)
        if (backingName is not null)
        {
            if (position + backingName.Length > header.Length)
            {
                throw new ArgumentException("backing file name does not fit in the header cluster", nameof(backingName));
            }

            BinaryPrimitives.WriteUInt64BigEndian(h[8..], (ulong)position);
            BinaryPrimitives.WriteUInt32BigEndian(h[16..], (uint)backingName.Length);
            backingName.CopyTo(h[position..]);
        }

        return header;
    }

    /// <summary>
    /// Where a new image's metadata goes: header, refcount table, L1 table, then the refcount blocks counting all of
    /// them (as many as it takes for the blocks to count themselves too).
    /// </summary>
    private sealed class CreateLayout
    {
        private readonly int _clusterBits;

        public CreateLayout(ulong size, int clusterBits, long l1Entries)
        {
            _clusterBits = clusterBits;
            var clusterSize = 1L << clusterBits;
            L1Entries = l1Entries;
            var l1Clusters = Math.Max(1, ((l1Entries * 8) + clusterSize - 1) / clusterSize);
            var refcountsPerBlock = clusterSize / 2;
            var bytesPerBlock = refcountsPerBlock * clusterSize;

            // Room for every data cluster twice over (discarded clusters are not reused) and all their L2 tables.
            var l2Bytes = l1Entries * clusterSize;
            var covered = (long)Math.Min((ulong)long.MaxValue / 4, size) * 2 + (l2Bytes * 2) + (64L << 20);
            var tableEntries = (covered + bytesPerBlock - 1) / bytesPerBlock;
            RefcountTableClusters = (int)Math.Clamp(
                ((tableEntries * 8) + clusterSize - 1) / clusterSize, 1, Qcow2Limits.MaxRefcountTableBytes / clusterSize);

            var fixedClusters = 1 + RefcountTableClusters + l1Clusters;
            RefcountBlockCount = 1;
            while (fixedClusters + RefcountBlockCount > RefcountBlockCount * refcountsPerBlock)
            {
                RefcountBlockCount++;
            }

            RefcountTableOffset = clusterSize;
            L1Offset = RefcountTableOffset + (RefcountTableClusters * clusterSize);
            RefcountBlocksOffset = L1Offset + (l1Clusters * clusterSize);
            FileLength = RefcountBlocksOffset + (RefcountBlockCount * clusterSize);
        }

        public long L1Entries { get; }

        public long L1Offset { get; }

        public long RefcountTableOffset { get; }

        public int RefcountTableClusters { get; }

        public long RefcountBlocksOffset { get; }

        public long RefcountBlockCount { get; }

        public long FileLength { get; }

        public byte[] RefcountTable()
        {
            var table = new byte[RefcountTableClusters << _clusterBits];
            for (var i = 0; i < RefcountBlockCount; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), (ulong)(RefcountBlocksOffset + ((long)i << _clusterBits)));
            }

            return table;
        }

        /// <summary>Every cluster of the new file counted once, in 16-bit big-endian refcounts.</summary>
        public byte[] RefcountBlocks()
        {
            var blocks = new byte[RefcountBlockCount << _clusterBits];
            for (var cluster = 0; cluster < FileLength >> _clusterBits; cluster++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(blocks.AsSpan(cluster * 2), 1);
            }

            return blocks;
        }
    }
}
