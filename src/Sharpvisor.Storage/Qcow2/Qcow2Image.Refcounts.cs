using System.Buffers.Binary;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>Refcounts and cluster allocation: only for a writable image, written through as they change.</summary>
public sealed partial class Qcow2Image
{
    private readonly LruCache<long, RefcountBlock> _refcountCache;
    private readonly List<(long Offset, long Length)> _pendingFrees = [];
    private readonly ulong[] _refcountTable = [];

    // Where an appended cluster goes: past the file's end and past every cluster with a refcount.
    private long _allocationEnd;

    private int RefcountBlockBits => _clusterBits + 3 - _header.RefcountOrder;

    // Clusters let go of (their refcounts dropped at the next commit) before an allocation that would grow the file
    // commits first: the most a file grows by for want of a flush.
    private const int MaxPendingFrees = 64;

    // Where the search for a free cluster starts: every cluster below it is in use.
    private long _freeSearchFrom;

    /// <summary>
    /// A free cluster, its refcount already one (written, not yet synced): the first with a refcount of zero, else a
    /// new one at the end of the file. Reusing is safe because a refcount only drops to zero after the entry that
    /// pointed at the cluster is durable (<see cref="CommitMetadata"/>).
    /// </summary>
    private long AllocateCluster()
    {
        var cluster = FindFreeCluster();
        if (cluster < 0 && _pendingFrees.Count >= MaxPendingFrees)
        {
            // A guest that writes and discards the same cluster over and over, never flushing, would otherwise grow the
            // file by a cluster a round: commit, so the clusters it let go of are free to reuse.
            CommitMetadata();
            cluster = FindFreeCluster();
        }

        if (cluster < 0)
        {
            cluster = _allocationEnd;
            _allocationEnd += _clusterSize;
            _validEnd = Math.Max(_validEnd, _allocationEnd);
        }

        ChangeRefcount(cluster, +1);
        return cluster;
    }

    /// <summary>The first cluster below the allocation end with no references, or -1; bounded by the file's clusters.</summary>
    private long FindFreeCluster()
    {
        for (var cluster = _freeSearchFrom; cluster < _allocationEnd; cluster += _clusterSize)
        {
            if (!OverlapsFixedMetadata(cluster) && !_tableClusters.Contains(cluster) && Refcount(cluster) == 0)
            {
                _freeSearchFrom = cluster + _clusterSize;
                return cluster;
            }
        }

        _freeSearchFrom = _allocationEnd;
        return -1;
    }

    /// <summary>Drops the clusters an L2 entry held once the entry that replaced it is on disk (see <see cref="CommitMetadata"/>).</summary>
    private void FreeLater(ulong entry)
    {
        switch (Classify(entry))
        {
            case ClusterKind.Compressed:
                _pendingFrees.Add(CompressedRange(entry));
                break;
            case ClusterKind.Data or ClusterKind.Zero when (entry & Qcow2Limits.OffsetMask) != 0:
                _pendingFrees.Add(((long)(entry & Qcow2Limits.OffsetMask), _clusterSize));
                break;
        }
    }

    private ulong Refcount(long cluster)
    {
        var (block, index) = RefcountBlockFor(cluster, allocate: false);
        return block?.Get(index) ?? 0;
    }

    private void ChangeRefcount(long cluster, int delta)
    {
        var (block, index) = RefcountBlockFor(cluster, allocate: true);
        var value = block!.Get(index);
        if (delta < 0 && value == 0)
        {
            throw new Qcow2FormatException($"refcount of cluster {cluster} would drop below zero");
        }

        if (delta > 0 && value == block.MaxValue)
        {
            throw new NotSupportedException($"refcount of cluster {cluster} would overflow {block.Bits} bits");
        }

        var (at, length) = block.Set(index, delta > 0 ? value + 1 : value - 1);
        WriteFile(BlockOffset(cluster) + at, block.Data.AsSpan(at, length));
        if (delta < 0 && value == 1)
        {
            _freeSearchFrom = Math.Min(_freeSearchFrom, cluster);
        }
    }

    private void SetRefcount(long cluster, ulong value)
    {
        var (block, index) = RefcountBlockFor(cluster, allocate: value != 0);
        if (block is null)
        {
            return; // no block, and zero wanted: already so
        }

        if (value > block.MaxValue)
        {
            throw new NotSupportedException($"refcount {value} of cluster {cluster} does not fit {block.Bits} bits");
        }

        var (at, length) = block.Set(index, value);
        WriteFile(BlockOffset(cluster) + at, block.Data.AsSpan(at, length));
    }

    private long BlockOffset(long cluster) =>
        (long)(_refcountTable[(cluster >> _clusterBits) >> RefcountBlockBits] & Qcow2Limits.OffsetMask);

    private (RefcountBlock? Block, int Index) RefcountBlockFor(long cluster, bool allocate)
    {
        var clusterIndex = cluster >> _clusterBits;
        var tableIndex = clusterIndex >> RefcountBlockBits;
        var index = (int)(clusterIndex & ((1L << RefcountBlockBits) - 1));
        if (tableIndex >= _refcountTable.Length)
        {
            if (!allocate)
            {
                return (null, index);
            }

            throw new NotSupportedException(
                $"cluster {cluster} is past what the refcount table covers, and growing the refcount table is not supported");
        }

        var offset = (long)(_refcountTable[tableIndex] & Qcow2Limits.OffsetMask);
        if (offset == 0)
        {
            return allocate ? (NewRefcountBlock((int)tableIndex), index) : (null, index);
        }

        if (_refcountCache.TryGet(offset, out var cached))
        {
            return (cached, index);
        }

        var data = new byte[_clusterSize];
        ReadFile(offset, data);
        var block = new RefcountBlock(data, _header.RefcountOrder);
        _refcountCache.Add(offset, block); // written through: dropping one costs nothing
        return (block, index);
    }

    /// <summary>
    /// A refcount block for table entry <paramref name="tableIndex"/>: counted (by itself when it covers its own
    /// cluster), written and synced before the table entry points at it.
    /// </summary>
    private RefcountBlock NewRefcountBlock(int tableIndex)
    {
        var offset = _allocationEnd;
        _allocationEnd += _clusterSize;
        _validEnd = Math.Max(_validEnd, _allocationEnd);
        _tableClusters.Add(offset);
        var block = new RefcountBlock(new byte[_clusterSize], _header.RefcountOrder);
        var self = offset >> _clusterBits;
        if (self >> RefcountBlockBits == tableIndex)
        {
            block.Set((int)(self & ((1L << RefcountBlockBits) - 1)), 1);
        }
        else
        {
            ChangeRefcount(offset, +1);
        }

        WriteFile(offset, block.Data);
        Sync();
        _refcountTable[tableIndex] = (ulong)offset;
        Span<byte> entry = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(entry, (ulong)offset);
        WriteFile(_header.RefcountTableOffset + (tableIndex * 8L), entry);
        _refcountCache.Add(offset, block);
        return block;
    }

    private ulong[] ReadRefcountTable()
    {
        var raw = new byte[_header.RefcountTableClusters * _clusterSize];
        ReadFile(_header.RefcountTableOffset, raw);
        var table = new ulong[raw.Length / 8];
        for (var i = 0; i < table.Length; i++)
        {
            var entry = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            if ((entry & Qcow2Limits.RefcountTableReservedMask) != 0)
            {
                throw new Qcow2FormatException($"refcount table entry {i} (0x{entry:x16}) has reserved bits set");
            }

            if (entry != 0)
            {
                CheckClusterPointer((long)entry, $"refcount block {i}");
                _tableClusters.Add((long)entry);
            }

            table[i] = entry;
        }

        return table;
    }

    /// <summary>The end of the last cluster with a nonzero refcount: new clusters go after it, so none is counted twice.</summary>
    private long EndOfReferencedClusters()
    {
        for (var tableIndex = _refcountTable.Length - 1; tableIndex >= 0; tableIndex--)
        {
            if (_refcountTable[tableIndex] == 0)
            {
                continue;
            }

            if (tableIndex > long.MaxValue >> (RefcountBlockBits + _clusterBits + 1))
            {
                throw new Qcow2FormatException($"refcount block {tableIndex} covers clusters past any possible file size");
            }

            var first = (long)tableIndex << RefcountBlockBits;
            var (block, _) = RefcountBlockFor(first << _clusterBits, allocate: false);
            for (var index = block!.Entries - 1; index >= 0; index--)
            {
                if (block.Get(index) != 0)
                {
                    return (first + index + 1) << _clusterBits;
                }
            }
        }

        return 0;
    }
}
