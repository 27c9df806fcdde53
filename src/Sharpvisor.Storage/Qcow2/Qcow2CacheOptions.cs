namespace Sharpvisor.Storage.Qcow2;

/// <summary>How much of an image's metadata <see cref="Qcow2Image"/> keeps in memory.</summary>
/// <param name="L2CacheBytes">The L2 tables' cache, in bytes (rounded down to whole tables, at least 2).</param>
/// <param name="RefcountCacheBytes">The refcount blocks' cache, in bytes (at least 2 blocks).</param>
public sealed record Qcow2CacheOptions(long L2CacheBytes = 4L << 20, long RefcountCacheBytes = 1L << 20)
{
    /// <summary>4 MiB of L2 tables map 32 GiB of disk with 64 KiB clusters: a whole typical disk.</summary>
    public static Qcow2CacheOptions Default { get; } = new();

    internal int TablesFor(long bytes, long clusterSize) => (int)Math.Clamp(bytes / clusterSize, 2, 1 << 20);
}
