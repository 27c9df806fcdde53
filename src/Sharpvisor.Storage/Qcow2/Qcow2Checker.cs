using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// Counts the references to every cluster of the file (header, L1 table, refcount table and blocks, L2 tables, data
/// and compressed clusters), then compares them with the refcounts. Nothing read is trusted: every pointer is checked
/// before it is followed, and every loop is bounded by a table the header sized (and the header checked).
/// </summary>
internal sealed class Qcow2Checker(SafeFileHandle file, long fileLength, Qcow2Header header)
{
    // 2^26 clusters (4 TiB with 64 KiB clusters) take 768 MiB of counters: the most a check may cost.
    private const long MaxClusters = 1L << 26;

    private readonly long _clusterSize = header.ClusterSize;
    private readonly int _clusterBits = header.ClusterBits;
    private readonly List<string> _problems = [];
    private long _leaks;
    private long _corruptions;
    private uint[] _references = [];
    private ulong[] _refcounts = [];
    private long _endOffset;

    public Qcow2CheckResult Run()
    {
        var clusters = (fileLength + _clusterSize - 1) >> _clusterBits;
        if (clusters > MaxClusters)
        {
            throw new NotSupportedException($"image of {clusters} clusters is too large to check");
        }

        _references = new uint[clusters];
        _refcounts = new ulong[clusters];
        Reference(0, _clusterSize, "header");
        Reference(header.L1TableOffset, header.L1Size * 8L, "L1 table");
        Reference(header.RefcountTableOffset, header.RefcountTableClusters * _clusterSize, "refcount table");
        ReadRefcounts();

        var l1 = ReadL1();
        var (allocated, compressed) = CountGuestClusters(l1);
        CompareRefcounts();
        CheckCopiedFlags(l1);

        var guestClusters = (long)((header.Size + (ulong)_clusterSize - 1) >> _clusterBits);
        return new Qcow2CheckResult(_leaks, _corruptions, _problems, allocated, compressed, guestClusters, _endOffset);
    }

    private void ReadRefcounts()
    {
        var table = ReadTable(header.RefcountTableOffset, header.RefcountTableClusters * _clusterSize);
        var blockBits = _clusterBits + 3 - header.RefcountOrder;
        for (var i = 0L; i < table.Length; i++)
        {
            var block = (long)(table[i] & Qcow2Limits.OffsetMask);
            if (table[i] == 0)
            {
                continue;
            }

            if ((table[i] & Qcow2Limits.RefcountTableReservedMask) != 0 || !Reference(block, _clusterSize, $"refcount block {i}"))
            {
                Corrupt($"refcount table entry {i} (0x{table[i]:x16}) is not a cluster inside the file");
                continue;
            }

            var first = i << blockBits;
            if (first >= _refcounts.Length)
            {
                continue; // counts clusters past the end of the file only: nothing there to compare
            }

            var data = new byte[_clusterSize];
            Qcow2Header.ReadExactly(file, data, block);
            var refcounts = new RefcountBlock(data, header.RefcountOrder);
            var count = Math.Min(refcounts.Entries, _refcounts.Length - first);
            for (var index = 0; index < count; index++)
            {
                _refcounts[first + index] = refcounts.Get(index);
            }
        }
    }

    private ulong[] ReadL1()
    {
        var l1 = ReadTable(header.L1TableOffset, header.L1Size * 8L);
        for (var i = 0; i < l1.Length; i++)
        {
            var offset = (long)(l1[i] & Qcow2Limits.OffsetMask);
            if ((l1[i] & Qcow2Limits.L1ReservedMask) != 0)
            {
                Corrupt($"L1 entry {i} (0x{l1[i]:x16}) has reserved bits set");
                l1[i] = 0;
            }
            else if (offset != 0 && (!Reference(offset, _clusterSize, $"L2 table of L1 entry {i}") || _references[offset >> _clusterBits] > 1))
            {
                // Not followed: it points outside the file, or at a cluster already counted (reported below as a
                // refcount short of its references). So each cluster of the file is walked as an L2 table at most once.
                l1[i] = 0;
            }
        }

        return l1;
    }

    private (long Allocated, long Compressed) CountGuestClusters(ulong[] l1)
    {
        long allocated = 0, compressed = 0;
        for (var i = 0; i < l1.Length; i++)
        {
            var tableOffset = (long)(l1[i] & Qcow2Limits.OffsetMask);
            if (tableOffset == 0)
            {
                continue;
            }

            var entries = ReadTable(tableOffset, _clusterSize);
            for (var index = 0; index < entries.Length; index++)
            {
                var entry = entries[index];
                var where = $"L2 table {tableOffset}, entry {index}";
                if ((entry & Qcow2Limits.CompressedFlag) != 0)
                {
                    var (host, length) = CompressedRange(entry);
                    Reference(host, length, $"compressed cluster of {where}", aligned: false);
                    allocated++;
                    compressed++;
                    continue;
                }

                var reserved = Qcow2Limits.L2ReservedMask | (header.Version >= 3 ? 0 : Qcow2Limits.ZeroFlag);
                if ((entry & reserved) != 0)
                {
                    Corrupt($"{where} (0x{entry:x16}) has reserved bits set");
                    continue;
                }

                var offset = (long)(entry & Qcow2Limits.OffsetMask);
                if (offset != 0)
                {
                    Reference(offset, _clusterSize, $"data cluster of {where}");
                    allocated += (entry & Qcow2Limits.ZeroFlag) == 0 || header.Version < 3 ? 1 : 0;
                }
            }
        }

        return (allocated, compressed);
    }

    private void CompareRefcounts()
    {
        for (var cluster = 0L; cluster < _references.Length; cluster++)
        {
            var refcount = _refcounts[cluster];
            var references = _references[cluster];
            if (refcount > references)
            {
                _leaks++;
                Note($"Leaked cluster {cluster} refcount={refcount} reference={references}");
            }
            else if (refcount < references)
            {
                Corrupt($"ERROR cluster {cluster} refcount={refcount} reference={references}");
            }
        }
    }

    /// <summary>The "copied" flag promises a refcount of exactly one: a writer trusting a wrong one would write a shared cluster in place.</summary>
    private void CheckCopiedFlags(ulong[] l1)
    {
        for (var i = 0; i < l1.Length; i++)
        {
            var tableOffset = (long)(l1[i] & Qcow2Limits.OffsetMask);
            if (tableOffset == 0)
            {
                continue;
            }

            CheckCopied(l1[i], tableOffset, $"L2 table of L1 entry {i}");
            var entries = ReadTable(tableOffset, _clusterSize);
            for (var index = 0; index < entries.Length; index++)
            {
                var offset = (long)(entries[index] & Qcow2Limits.OffsetMask);
                if ((entries[index] & Qcow2Limits.CompressedFlag) == 0 && offset != 0 && (offset & (_clusterSize - 1)) == 0)
                {
                    CheckCopied(entries[index], offset, $"data cluster of L2 table {tableOffset}, entry {index}");
                }
            }
        }
    }

    private void CheckCopied(ulong entry, long offset, string what)
    {
        var cluster = offset >> _clusterBits;
        if (cluster >= _refcounts.Length)
        {
            return; // already reported as outside the file
        }

        var copied = (entry & Qcow2Limits.CopiedFlag) != 0;
        if (copied != (_refcounts[cluster] == 1))
        {
            Corrupt($"ERROR OFLAG_COPIED {what}: copied flag {(copied ? "set" : "clear")} with refcount {_refcounts[cluster]}");
        }
    }

    /// <summary>Counts a reference to each cluster of the range; false (and a corruption) when it is not aligned or not inside the file.</summary>
    private bool Reference(long offset, long length, string what, bool aligned = true)
    {
        if (length == 0)
        {
            return true; // an empty table (an L1 of a zero-sized disk) references nothing
        }

        if (!aligned && offset >= 0 && offset < fileLength)
        {
            // A compressed cluster's last sector may run past the end of the file: qemu writes it so.
            length = Math.Min(length, fileLength - offset);
        }

        if (aligned && (offset & (_clusterSize - 1)) != 0)
        {
            Corrupt($"ERROR {what} at offset {offset} is not cluster-aligned");
            return false;
        }

        if (offset < 0 || length <= 0 || offset > fileLength || length > fileLength - offset)
        {
            Corrupt($"ERROR {what} at offset {offset} ({length} bytes) reaches past the end of the file ({fileLength} bytes)");
            return false;
        }

        var last = (offset + length - 1) >> _clusterBits;
        for (var cluster = offset >> _clusterBits; cluster <= last; cluster++)
        {
            if (_references[cluster] != uint.MaxValue)
            {
                _references[cluster]++;
            }
        }

        _endOffset = Math.Max(_endOffset, (last + 1) << _clusterBits);
        return true;
    }

    /// <summary>A table of big-endian entries; what lies past the end of the file reads as zeros.</summary>
    private ulong[] ReadTable(long offset, long length)
    {
        var raw = new byte[length];
        Qcow2Header.ReadExactly(file, raw, offset);
        var entries = new ulong[length / 8];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        }

        return entries;
    }

    /// <summary>The host byte range of a compressed entry (see <see cref="Qcow2Image"/>'s own reader).</summary>
    private (long Host, long Length) CompressedRange(ulong entry)
    {
        var offsetBits = 62 - (_clusterBits - 8);
        var host = (long)(entry & ((1UL << offsetBits) - 1));
        var sectors = (long)((entry >> offsetBits) & ((1UL << (_clusterBits - 8)) - 1)) + 1;
        return (host, (sectors * 512) - (host & 511));
    }

    private void Corrupt(string message)
    {
        _corruptions++;
        Note(message);
    }

    private void Note(string message)
    {
        if (_problems.Count < Qcow2Image.MaxCheckMessages)
        {
            _problems.Add(message);
        }
    }
}
