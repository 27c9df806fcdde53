using System.Buffers.Binary;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// Rebuilding the refcounts of an image left dirty (a writer with lazy refcounts that did not close it): the refcounts
/// on disk may be lower than the references, and an allocation trusting them could hand out a cluster in use.
/// </summary>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Counts every reference (header, L1, refcount table and blocks, L2 tables, data and compressed clusters), writes
    /// the counts where they differ, syncs, and only then clears the dirty bit. Bounded by the file's length.
    /// </summary>
    private void RepairRefcounts()
    {
        var clusters = AlignUp(_validEnd) >> _clusterBits;
        var counts = new uint[clusters];
        Count(counts, 0, _clusterSize);
        Count(counts, _header.L1TableOffset, _header.L1Size * 8L);
        Count(counts, _header.RefcountTableOffset, _header.RefcountTableClusters * _clusterSize);
        foreach (var block in _refcountTable)
        {
            Count(counts, (long)(block & Qcow2Limits.OffsetMask), (block & Qcow2Limits.OffsetMask) == 0 ? 0 : _clusterSize);
        }

        for (var l1Index = 0; l1Index < _l1.Length; l1Index++)
        {
            if (L2Table(l1Index) is not { } table)
            {
                continue;
            }

            Count(counts, table.Offset, _clusterSize);
            foreach (var entry in table.Entries)
            {
                switch (Classify(entry))
                {
                    case ClusterKind.Compressed:
                        var (host, length) = CompressedRange(entry);
                        Count(counts, host, length);
                        break;
                    case ClusterKind.Data or ClusterKind.Zero when (entry & Qcow2Limits.OffsetMask) != 0:
                        Count(counts, (long)(entry & Qcow2Limits.OffsetMask), _clusterSize);
                        break;
                }
            }
        }

        for (var cluster = 0L; cluster < clusters; cluster++)
        {
            if (Refcount(cluster << _clusterBits) != counts[cluster])
            {
                SetRefcount(cluster << _clusterBits, counts[cluster]);
            }
        }

        Sync();
        Span<byte> features = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(features, _header.IncompatibleFeatures & ~Qcow2Header.DirtyBit);
        WriteFile(Qcow2Header.IncompatibleFeaturesOffset, features);
        Sync();
    }

    private void Count(uint[] counts, long offset, long length)
    {
        for (var cluster = offset >> _clusterBits; length > 0 && cluster <= (offset + length - 1) >> _clusterBits; cluster++)
        {
            // A compressed range may reach past the file's end: nothing there to count.
            if (cluster < counts.Length)
            {
                counts[cluster]++;
            }
        }
    }
}
