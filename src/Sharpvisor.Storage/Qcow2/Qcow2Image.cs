using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// A qcow2 image (versions 2 and 3): reads through L1 → L2 → data cluster, falling back to the backing image or zeros;
/// writes allocate clusters at the end of the file with copy-on-write. Internal snapshots are not supported: such an
/// image opens read-only only, since a write must never free a cluster a snapshot still uses.
/// </summary>
/// <remarks>
/// Crash safety comes from ordering, not from the dirty bit. A new cluster's refcount and data are written first; the
/// L2 entry that points at it changes in the cached table only, and reaches the disk in <see cref="Flush"/> (or when
/// the table is evicted) after an fdatasync; a new L2 table's L1 entry likewise after another fdatasync; and a cluster
/// an L2 entry stopped pointing at has its refcount dropped only after that entry is durable. A crash can leak
/// clusters (refcount above references, what qemu-img check calls a leak) but never leave an entry pointing at an
/// unreferenced or unwritten cluster. Since a refcount reaches zero only once no entry on disk names the cluster,
/// allocation may reuse such clusters (the lowest first) before it appends to the file.
/// </remarks>
public sealed partial class Qcow2Image : IBlockBackend
{
    private readonly Lock _sync = new();
    private readonly SafeFileHandle _file;
    private readonly Qcow2Header _header;
    private readonly int _clusterBits;
    private readonly long _clusterSize;
    private readonly int _l2Bits;
    private readonly ulong[] _l1;
    private readonly IBlockBackend? _backing;
    private readonly LruCache<long, L2Table> _l2Cache;
    private bool _disposed;

    // The decompressed cluster last read, so that a guest reading a compressed cluster in small pieces inflates it once.
    private ulong _inflatedEntry;
    private byte[]? _inflated;

    // The copy-on-write cluster being assembled; one is enough under the lock.
    private byte[]? _copyBuffer;

    private Qcow2Image(SafeFileHandle file, long fileLength, Qcow2Header header, bool readOnly, IBlockBackend? backing, Qcow2CacheOptions cache)
    {
        _file = file;
        _header = header;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _l2Bits = _clusterBits - 3;
        _backing = backing;
        ReadOnly = readOnly;
        _validEnd = fileLength;
        _allocationEnd = AlignUp(fileLength);
        _l2Cache = new LruCache<long, L2Table>(cache.TablesFor(cache.L2CacheBytes, _clusterSize));
        _refcountCache = new LruCache<long, RefcountBlock>(cache.TablesFor(cache.RefcountCacheBytes, _clusterSize));
        _l1 = ReadL1();
        if (!readOnly)
        {
            _refcountTable = ReadRefcountTable();
            if (header.IsDirty)
            {
                RepairRefcounts();
            }

            _allocationEnd = Math.Max(_allocationEnd, EndOfReferencedClusters());
            _validEnd = Math.Max(_validEnd, _allocationEnd);
            ClearAutoclearFeatures();
        }
    }

    /// <inheritdoc/>
    public ulong Size => _header.Size;

    /// <summary>
    /// Called after every write to the file, with its handle: the crash tests copy the file there, which is what a
    /// writer killed right after that write would have left.
    /// </summary>
    internal Action<SafeFileHandle>? AfterWrite { get; set; }

    /// <inheritdoc/>
    public bool ReadOnly { get; }

    /// <summary>The cluster size in bytes.</summary>
    public long ClusterSize => _clusterSize;

    /// <summary>The backing image, if any (owned by this image).</summary>
    public IBlockBackend? Backing => _backing;

    /// <summary>
    /// Opens a qcow2 image and its backing chain (read-only). <see cref="Qcow2FormatException"/> for a malformed
    /// image, <see cref="NotSupportedException"/> for a feature this implementation lacks, naming it.
    /// </summary>
    public static Qcow2Image Open(string path, bool readOnly, Qcow2CacheOptions? cache = null) =>
        Open(path, readOnly, cache ?? Qcow2CacheOptions.Default, new BackingChain());

    internal static Qcow2Image Open(string path, bool readOnly, Qcow2CacheOptions cache, BackingChain chain)
    {
        chain.Enter(path);
        var file = File.OpenHandle(
            path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, readOnly ? FileShare.Read : FileShare.None);
        try
        {
            return Open(file, path, readOnly, cache, chain);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A qcow2 image on <paramref name="file"/>, already open (and locked, if its caller locks) with the access
    /// <paramref name="readOnly"/> says: a confined VMM's launcher opens its disks for it. <paramref name="path"/>
    /// names it in messages and locates relative backing file names. On success the image owns the handle; on failure
    /// the caller still does. <paramref name="openBacking"/>, when given, opens each backing file read-only by the path
    /// <see cref="BackingFiles"/> lists for it (null: open it by path).
    /// </summary>
    public static Qcow2Image Open(
        SafeFileHandle file, string path, bool readOnly, Qcow2CacheOptions? cache = null, Func<string, SafeFileHandle?>? openBacking = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        var chain = new BackingChain(openBacking);
        chain.Enter(path);
        return Open(file, path, readOnly, cache ?? Qcow2CacheOptions.Default, chain);
    }

    internal static Qcow2Image Open(SafeFileHandle file, string path, bool readOnly, Qcow2CacheOptions cache, BackingChain chain)
    {
        IBlockBackend? backing = null;
        try
        {
            var length = RandomAccess.GetLength(file);
            var header = Qcow2Header.Read(file, length);
            if (!readOnly)
            {
                CheckWritable(header);
            }

            if (header.BackingFile is { } name)
            {
                backing = chain.OpenBacking(path, name, header.BackingFormat, cache);
            }

            return new Qcow2Image(file, length, header, readOnly, backing, cache);
        }
        catch
        {
            backing?.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Read(long offset, Span<byte> destination)
    {
        BlockRange.Check(Size, offset, destination.Length);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (!destination.IsEmpty)
            {
                var inCluster = (int)(offset & (_clusterSize - 1));
                var length = (int)Math.Min(destination.Length, _clusterSize - inCluster);
                ReadInCluster(offset, inCluster, destination[..length]);
                destination = destination[length..];
                offset += length;
            }
        }
    }

    /// <inheritdoc/>
    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        BlockRange.CheckWritable(ReadOnly);
        BlockRange.Check(Size, offset, source.Length);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (!source.IsEmpty)
            {
                var inCluster = (int)(offset & (_clusterSize - 1));
                var length = (int)Math.Min(source.Length, _clusterSize - inCluster);
                WriteInCluster(offset, inCluster, source[..length]);
                source = source[length..];
                offset += length;
            }
        }
    }

    /// <summary>Commits the metadata in the order the class remarks describe, then makes everything durable.</summary>
    public void Flush()
    {
        if (ReadOnly)
        {
            return;
        }

        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CommitMetadata();
            Sync();
        }
    }

    /// <summary>
    /// Whole clusters in the range stop being allocated and read as zeros (not as the backing image: a zero flag
    /// where there is one; a version 2 image with a backing file gets zeros written); the partial clusters at its
    /// edges keep their bytes.
    /// </summary>
    public void Discard(long offset, long length) => ZeroRange(offset, length, discard: true);

    /// <summary>Whole clusters get the zero flag (v3) and lose their allocation; partial ones are written with zeros.</summary>
    public void WriteZeroes(long offset, long length) => ZeroRange(offset, length, discard: false);

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                if (!ReadOnly)
                {
                    CommitMetadata();
                    Sync();
                }
            }
            finally
            {
                _disposed = true;
                _file.Dispose();
                _backing?.Dispose();
            }
        }
    }

    private static void CheckWritable(Qcow2Header header)
    {
        if (header.IsCorrupt)
        {
            throw new Qcow2FormatException("image is marked corrupt: repair it (qemu-img check -r all) before writing");
        }

        if (header.SnapshotCount > 0)
        {
            // A write would have to copy every cluster a snapshot shares and never free one: not implemented.
            throw new NotSupportedException($"qcow2 internal snapshots ({header.SnapshotCount}) are not supported for writing; open read-only");
        }

    }

    private void ReadInCluster(long offset, int inCluster, Span<byte> destination)
    {
        var entry = LookupEntry(offset);
        switch (Classify(entry))
        {
            case ClusterKind.Data:
                ReadFile((long)(entry & Qcow2Limits.OffsetMask) + inCluster, destination);
                break;
            case ClusterKind.Compressed:
                Inflate(entry).AsSpan(inCluster, destination.Length).CopyTo(destination);
                break;
            case ClusterKind.Zero:
                destination.Clear();
                break;
            default:
                ReadBacking(offset, destination);
                break;
        }
    }

    private void WriteInCluster(long offset, int inCluster, ReadOnlySpan<byte> source)
    {
        var guestCluster = offset - inCluster;
        var (table, index) = L2ForWrite(guestCluster);
        var entry = table.Entries[index];
        var kind = Classify(entry);
        var host = (long)(entry & Qcow2Limits.OffsetMask);
        if (host != 0 && kind is ClusterKind.Data or ClusterKind.Zero && (entry & Qcow2Limits.CopiedFlag) != 0)
        {
            if (kind == ClusterKind.Data)
            {
                WriteFile(host + inCluster, source);
                return;
            }

            // A zero cluster that keeps its allocation: the bytes outside the write must read as zeros, not as what
            // the cluster held before.
            var zeroed = new byte[_clusterSize];
            source.CopyTo(zeroed.AsSpan(inCluster));
            WriteFile(host, zeroed);
            SetEntry(table, index, (ulong)host | Qcow2Limits.CopiedFlag);
            return;
        }

        var fresh = AllocateCluster();
        if (source.Length == _clusterSize)
        {
            WriteFile(fresh, source);
        }
        else
        {
            var cluster = _copyBuffer ??= new byte[_clusterSize];
            ReadWholeCluster(entry, guestCluster, cluster);
            source.CopyTo(cluster.AsSpan(inCluster));
            WriteFile(fresh, cluster);
        }

        FreeLater(entry);
        SetEntry(table, index, (ulong)fresh | Qcow2Limits.CopiedFlag);
    }

    /// <summary>What a guest cluster currently holds, as a whole cluster: the copy-on-write source.</summary>
    private void ReadWholeCluster(ulong entry, long guestCluster, Span<byte> cluster)
    {
        switch (Classify(entry))
        {
            case ClusterKind.Data:
                ReadFile((long)(entry & Qcow2Limits.OffsetMask), cluster);
                break;
            case ClusterKind.Compressed:
                Inflate(entry).CopyTo(cluster);
                break;
            case ClusterKind.Zero:
                cluster.Clear();
                break;
            default:
                var inDisk = (int)Math.Min(cluster.Length, (long)Size - guestCluster);
                ReadBacking(guestCluster, cluster[..inDisk]);
                cluster[inDisk..].Clear();
                break;
        }
    }

    private void ZeroRange(long offset, long length, bool discard)
    {
        BlockRange.CheckWritable(ReadOnly);
        BlockRange.Check(Size, offset, length);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var end = offset + length;
            var bytesPerTable = _clusterSize << _l2Bits;
            while (offset < end)
            {
                var inCluster = offset & (_clusterSize - 1);
                var guestCluster = offset - inCluster;
                var n = Math.Min(end - offset, _clusterSize - inCluster);
                if (_backing is null && L1EntryFor(guestCluster) == 0)
                {
                    // No L2 table and nothing behind: the whole table's span already reads as zeros.
                    var tableEnd = Math.Min(end, (guestCluster / bytesPerTable + 1) * bytesPerTable);
                    offset = tableEnd;
                    continue;
                }

                var whole = inCluster == 0 && (n == _clusterSize || offset + n == (long)Size);
                if (whole)
                {
                    ZeroWholeCluster(guestCluster, discard);
                }
                else if (!discard && !ReadsAsZero(LookupEntry(guestCluster)))
                {
                    WriteInCluster(offset, (int)inCluster, new byte[n]);
                }

                offset += n;
            }
        }
    }

    private void ZeroWholeCluster(long guestCluster, bool discard)
    {
        var entry = LookupEntry(guestCluster);
        if (ReadsAsZero(entry) && (entry == 0 || entry == Qcow2Limits.ZeroFlag))
        {
            return;
        }

        ulong target;
        if (_header.Version >= 3)
        {
            target = discard && _backing is null ? 0 : Qcow2Limits.ZeroFlag;
        }
        else if (_backing is null)
        {
            target = 0;
        }
        else
        {
            // Version 2 has no zero flag and unallocating would show the backing image through: zeros are written,
            // for a discard too, so that a discarded cluster reads as zeros in every image.
            WriteInCluster(guestCluster, 0, new byte[Math.Min(_clusterSize, (long)Size - guestCluster)]);
            return;
        }

        var (table, index) = L2ForWrite(guestCluster);
        FreeLater(table.Entries[index]);
        SetEntry(table, index, target);
    }

    /// <summary>True when the entry reads as zeros whatever the backing image holds, or unallocated with no backing.</summary>
    private bool ReadsAsZero(ulong entry) => Classify(entry) switch
    {
        ClusterKind.Zero => true,
        ClusterKind.Unallocated => _backing is null,
        _ => false,
    };

    private void ReadBacking(long offset, Span<byte> destination)
    {
        if (_backing is null || (ulong)offset >= _backing.Size)
        {
            destination.Clear();
            return;
        }

        // The backing image may be smaller than this one: past its end reads as zeros.
        var inBacking = (int)Math.Min(destination.Length, (long)(_backing.Size - (ulong)offset));
        _backing.Read(offset, destination[..inBacking]);
        destination[inBacking..].Clear();
    }

    private byte[] Inflate(ulong entry)
    {
        if (_inflated is not null && _inflatedEntry == entry)
        {
            return _inflated;
        }

        var (host, length) = CompressedRange(entry);
        var compressed = new byte[length];
        ReadFile(host, compressed);
        var cluster = new byte[_clusterSize];
        try
        {
            using var input = new MemoryStream(compressed, writable: false);
            using var inflater = new System.IO.Compression.DeflateStream(input, System.IO.Compression.CompressionMode.Decompress);
            // A stream that ends early leaves the rest zero: deflate only ever gives bytes, never more than a cluster.
            inflater.ReadAtLeast(cluster, cluster.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new Qcow2FormatException($"compressed cluster at host offset {host} does not inflate: {e.Message}", e);
        }

        _inflatedEntry = entry;
        _inflated = cluster;
        return cluster;
    }

    /// <summary>
    /// A compressed entry's host byte range: x = 62 - (cluster_bits - 8) low bits of offset, then the count of 512-byte
    /// sectors beyond the one holding the offset. At most two clusters long.
    /// </summary>
    private (long Host, int Length) CompressedRange(ulong entry)
    {
        var offsetBits = 62 - (_clusterBits - 8);
        var host = (long)(entry & ((1UL << offsetBits) - 1));
        var sectors = (long)((entry >> offsetBits) & ((1UL << (_clusterBits - 8)) - 1)) + 1;
        return (host, (int)(sectors * 512 - (host & 511)));
    }

    private void ReadFile(long offset, Span<byte> destination) => Qcow2Header.ReadExactly(_file, destination, offset);

    private void WriteFile(long offset, ReadOnlySpan<byte> source)
    {
        RandomAccess.Write(_file, source, offset);
        AfterWrite?.Invoke(_file);
    }

    private void Sync() => RandomAccess.FlushToDisk(_file);

    private long AlignUp(long value) => (value + _clusterSize - 1) & ~(_clusterSize - 1);

    private void ClearAutoclearFeatures()
    {
        // Autoclear features (bitmaps, raw external data) describe extra state this writer would not keep up to date:
        // the spec has a writer that does not know them clear their bits.
        if (_header.Version >= 3 && _header.AutoclearFeatures != 0)
        {
            Span<byte> zero = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(zero, 0);
            WriteFile(Qcow2Header.AutoclearFeaturesOffset, zero);
            Sync();
        }
    }

    private enum ClusterKind
    {
        Unallocated,
        Data,
        Zero,
        Compressed,
    }

    private ClusterKind Classify(ulong entry)
    {
        if ((entry & Qcow2Limits.CompressedFlag) != 0)
        {
            return ClusterKind.Compressed;
        }

        if (_header.Version >= 3 && (entry & Qcow2Limits.ZeroFlag) != 0)
        {
            return ClusterKind.Zero;
        }

        return (entry & Qcow2Limits.OffsetMask) != 0 ? ClusterKind.Data : ClusterKind.Unallocated;
    }
}
