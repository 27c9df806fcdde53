namespace Sharpvisor.Storage.Qcow2;

/// <summary>The image's allocation as runs of zeros and data, from its L2 tables and its backing chain.</summary>
public sealed partial class Qcow2Image
{
    /// <summary>The most clusters one answer spans: the tables read per call stay bounded.</summary>
    private const int MaxExtentClusters = 1 << 16;

    /// <summary>
    /// Zeros for a zero cluster, or an unallocated one with nothing beneath it (no backing image, past its end, or a
    /// run the backing image itself says is zeros); data for an allocated or compressed cluster. Runs of clusters
    /// alike are one answer, up to 65536 clusters.
    /// </summary>
    public BlockExtent ExtentAt(long offset)
    {
        BlockRange.Check(Size, offset, 1);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var zero = ZeroToClusterEnd(offset);
            var end = Math.Min((long)Size, (offset & ~(_clusterSize - 1)) + _clusterSize);
            for (var clusters = 1; end < (long)Size && clusters < MaxExtentClusters && ZeroToClusterEnd(end) == zero; clusters++)
            {
                end = Math.Min((long)Size, end + _clusterSize);
            }

            return new BlockExtent(zero, end - offset);
        }
    }

    /// <summary>Whether the bytes from <paramref name="offset"/> to its cluster's end read as zeros for sure.</summary>
    private bool ZeroToClusterEnd(long offset)
    {
        var entry = LookupEntry(offset);
        switch (Classify(entry))
        {
            case ClusterKind.Zero:
                return true;
            case ClusterKind.Data or ClusterKind.Compressed:
                return false;
        }

        if (_backing is null || (ulong)offset >= _backing.Size)
        {
            return true;
        }

        var end = Math.Min(Math.Min((long)Size, (offset & ~(_clusterSize - 1)) + _clusterSize), (long)_backing.Size);
        // Each answer moves on by at least a byte (a backing that says less is taken as data), so this ends within a cluster.
        for (var at = offset; at < end;)
        {
            var below = _backing.ExtentAt(at);
            if (!below.Zero || below.Length <= 0)
            {
                return false;
            }

            at += below.Length;
        }

        return true;
    }
}
