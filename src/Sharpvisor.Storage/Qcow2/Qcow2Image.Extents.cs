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
    public BlockExtent ExtentAt(long offset) => ExtentAt(offset, long.MaxValue);

    /// <summary>As <see cref="ExtentAt(long)"/>, looking no further than <paramref name="maxLength"/> bytes.</summary>
    public BlockExtent ExtentAt(long offset, long maxLength)
    {
        BlockRange.Check(Size, offset, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var limit = offset + Math.Min(maxLength, (long)Size - offset);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var end = Math.Min(limit, (offset & ~(_clusterSize - 1)) + _clusterSize);
            var zero = ZeroUpTo(offset, end);
            for (var clusters = 1; end < limit && clusters < MaxExtentClusters; clusters++)
            {
                var next = Math.Min(limit, end + _clusterSize);
                if (ZeroUpTo(end, next) != zero)
                {
                    break;
                }

                end = next;
            }

            return new BlockExtent(zero, end - offset);
        }
    }

    /// <summary>Whether the bytes [<paramref name="offset"/>, <paramref name="end"/>), inside one cluster, read as zeros for sure.</summary>
    private bool ZeroUpTo(long offset, long end)
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

        end = Math.Min(end, (long)_backing.Size);
        // Each answer moves on by at least a byte (a backing that says less is taken as data), so this ends within a
        // cluster; each asks the level below for no more than the rest of this range, so a chain costs its depth.
        for (var at = offset; at < end;)
        {
            var below = _backing.ExtentAt(at, end - at);
            if (!below.Zero || below.Length <= 0)
            {
                return false;
            }

            at += below.Length;
        }

        return true;
    }
}
