using System.Buffers.Binary;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>The L1 and L2 tables: lookups, validation of every pointer as it is loaded, and the ordered commit.</summary>
public sealed partial class Qcow2Image
{
    private readonly SortedSet<int> _dirtyL1 = [];

    // The L2 tables and refcount blocks we know of: a data pointer to one of them is refused, lest a write overwrite metadata.
    private readonly HashSet<long> _tableClusters = [];

    // Everything below this offset may be pointed at: the file's length at open, then what we allocated.
    private long _validEnd;

    /// <summary>The L2 entry for the guest cluster holding <paramref name="offset"/>; 0 (unallocated) without an L2 table.</summary>
    private ulong LookupEntry(long offset)
    {
        var l1Index = (int)(offset >> (_clusterBits + _l2Bits));
        var table = L2Table(l1Index);
        return table is null ? 0 : table.Entries[(int)((offset >> _clusterBits) & ((1L << _l2Bits) - 1))];
    }

    private ulong L1EntryFor(long offset) => _l1[(int)(offset >> (_clusterBits + _l2Bits))] & Qcow2Limits.OffsetMask;

    private L2Table? L2Table(int l1Index)
    {
        var offset = (long)(_l1[l1Index] & Qcow2Limits.OffsetMask);
        if (offset == 0)
        {
            return null;
        }

        if (_l2Cache.TryGet(offset, out var cached))
        {
            return cached;
        }

        var raw = new byte[_clusterSize];
        ReadFile(offset, raw);
        var entries = new ulong[_clusterSize / 8];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            CheckL2Entry(entries[i], offset, i);
        }

        var table = new L2Table(offset, entries);
        AddToCache(table);
        return table;
    }

    /// <summary>The L2 table for <paramref name="guestCluster"/>, allocated if missing, and the entry's index in it.</summary>
    private (L2Table Table, int Index) L2ForWrite(long guestCluster)
    {
        var l1Index = (int)(guestCluster >> (_clusterBits + _l2Bits));
        var index = (int)((guestCluster >> _clusterBits) & ((1L << _l2Bits) - 1));
        var l1Entry = _l1[l1Index];
        var offset = (long)(l1Entry & Qcow2Limits.OffsetMask);
        if (offset == 0)
        {
            var table = new L2Table(AllocateCluster(), new ulong[_clusterSize / 8]) { Dirty = true };
            _tableClusters.Add(table.Offset);
            AddToCache(table);

            // Set after AddToCache: a commit it triggers must not write an L1 entry before its table is on disk.
            _l1[l1Index] = (ulong)table.Offset | Qcow2Limits.CopiedFlag;
            _dirtyL1.Add(l1Index);
            return (table, index);
        }

        var existing = L2Table(l1Index)!;
        if ((l1Entry & Qcow2Limits.CopiedFlag) == 0)
        {
            var references = Refcount(offset);
            if (references != 1)
            {
                throw new NotSupportedException(
                    $"L2 table at {offset} is shared (refcount {references}): internal snapshots are not supported");
            }

            _l1[l1Index] = l1Entry | Qcow2Limits.CopiedFlag;
            _dirtyL1.Add(l1Index);
        }

        return (existing, index);
    }

    private static void SetEntry(L2Table table, int index, ulong entry)
    {
        table.Entries[index] = entry;
        table.Dirty = true;
    }

    private void AddToCache(L2Table table)
    {
        if (_l2Cache.TryPeekVictim(out var victim) && victim.Dirty)
        {
            // Evicting a changed table means writing it, and that needs the ordering a commit gives.
            CommitMetadata();
        }

        _l2Cache.Add(table.Offset, table);
    }

    /// <summary>
    /// Writes the changed metadata in crash-safe order: fdatasync (data and refcounts), L2 tables, fdatasync, L1 entries
    /// and the refcount drops of clusters no entry points at any more. The caller syncs after, if it needs durability.
    /// </summary>
    private void CommitMetadata()
    {
        var dirtyTables = _l2Cache.Values.Where(table => table.Dirty).ToList();
        if (dirtyTables.Count == 0 && _dirtyL1.Count == 0 && _pendingFrees.Count == 0)
        {
            return;
        }

        Sync();
        var raw = new byte[_clusterSize];
        foreach (var table in dirtyTables)
        {
            for (var i = 0; i < table.Entries.Length; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table.Entries[i]);
            }

            WriteFile(table.Offset, raw);
            table.Dirty = false;
        }

        Sync();
        Span<byte> entry = stackalloc byte[8];
        foreach (var l1Index in _dirtyL1)
        {
            BinaryPrimitives.WriteUInt64BigEndian(entry, _l1[l1Index]);
            WriteFile(_header.L1TableOffset + (l1Index * 8L), entry);
        }

        _dirtyL1.Clear();

        // One cluster at a time, each forgotten once dropped: when a write fails part way, the next commit retries only
        // what was not dropped (dropping one twice would free a cluster in use, to be handed out a second time).
        while (_pendingFrees.Count > 0)
        {
            var last = _pendingFrees.Count - 1;
            var (offset, length) = _pendingFrees[last];
            var cluster = offset & ~(_clusterSize - 1);
            ChangeRefcount(cluster, -1);
            var next = cluster + _clusterSize;
            if (next < offset + length)
            {
                _pendingFrees[last] = (next, offset + length - next);
            }
            else
            {
                _pendingFrees.RemoveAt(last);
            }
        }

        // A freed compressed cluster's bytes may be reused: forget what it inflated to.
        _inflated = null;
    }

    private ulong[] ReadL1()
    {
        var raw = new byte[_header.L1Size * 8L];
        ReadFile(_header.L1TableOffset, raw);
        var l1 = new ulong[_header.L1Size];
        for (var i = 0; i < l1.Length; i++)
        {
            var entry = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            if ((entry & Qcow2Limits.L1ReservedMask) != 0)
            {
                throw new Qcow2FormatException($"L1 entry {i} (0x{entry:x16}) has reserved bits set");
            }

            var offset = entry & Qcow2Limits.OffsetMask;
            if (offset != 0)
            {
                CheckClusterPointer((long)offset, $"L2 table of L1 entry {i}");
                _tableClusters.Add((long)offset);
            }

            l1[i] = entry;
        }

        return l1;
    }

    private void CheckL2Entry(ulong entry, long tableOffset, int index)
    {
        if ((entry & Qcow2Limits.CompressedFlag) != 0)
        {
            var (host, _) = CompressedRange(entry);
            if (host < _clusterSize || host >= _validEnd || OverlapsFixedMetadata(host & ~(_clusterSize - 1)))
            {
                throw new Qcow2FormatException(
                    $"compressed cluster at host offset {host} (L2 table {tableOffset}, entry {index}) is outside the image's data");
            }

            return;
        }

        var reserved = Qcow2Limits.L2ReservedMask | (_header.Version >= 3 ? 0 : Qcow2Limits.ZeroFlag);
        if ((entry & reserved) != 0)
        {
            throw new Qcow2FormatException($"L2 entry {index} of table {tableOffset} (0x{entry:x16}) has reserved bits set");
        }

        var offset = (long)(entry & Qcow2Limits.OffsetMask);
        if (offset != 0)
        {
            CheckClusterPointer(offset, $"data cluster of L2 table {tableOffset}, entry {index}");
            if (_tableClusters.Contains(offset))
            {
                throw new Qcow2FormatException(
                    $"data cluster of L2 table {tableOffset}, entry {index} at {offset} overlaps an L2 table or refcount block");
            }
        }
    }

    /// <summary>A pointer read from the image must be cluster-aligned, inside the file, and clear of the fixed metadata.</summary>
    private void CheckClusterPointer(long offset, string what)
    {
        if ((offset & (_clusterSize - 1)) != 0)
        {
            throw new Qcow2FormatException($"{what} at {offset} is not cluster-aligned");
        }

        if (offset >= _validEnd)
        {
            throw new Qcow2FormatException($"{what} at {offset} is past the end of the file ({_validEnd} bytes)");
        }

        if (OverlapsFixedMetadata(offset))
        {
            throw new Qcow2FormatException($"{what} at {offset} overlaps the header, L1 table or refcount table");
        }
    }

    /// <summary>Whether the cluster at <paramref name="cluster"/> is the header's, or one of the L1 or refcount table's.</summary>
    private bool OverlapsFixedMetadata(long cluster)
    {
        if (cluster < _clusterSize)
        {
            return true;
        }

        var l1End = _header.L1TableOffset + (_header.L1Size * 8L);
        if (_header.L1Size > 0 && cluster < l1End && cluster + _clusterSize > _header.L1TableOffset)
        {
            return true;
        }

        var refcountEnd = _header.RefcountTableOffset + (_header.RefcountTableClusters * _clusterSize);
        return cluster < refcountEnd && cluster + _clusterSize > _header.RefcountTableOffset;
    }
}
