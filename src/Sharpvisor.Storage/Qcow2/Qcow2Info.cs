namespace Sharpvisor.Storage.Qcow2;

/// <summary>What a qcow2 header says, for a tool that describes an image (<c>sharpvisor image info</c>).</summary>
/// <param name="Version">2 or 3 (qemu's "compat" 0.10 or 1.1).</param>
/// <param name="VirtualSize">The disk's size in bytes.</param>
/// <param name="ClusterSize">The cluster size in bytes.</param>
/// <param name="RefcountBits">The width of a refcount.</param>
/// <param name="BackingFile">The backing file's name as the header stores it, or null.</param>
/// <param name="BackingFormat">The backing file's format as the header names it, or null.</param>
/// <param name="IsDirty">The dirty bit: refcounts may be stale (a lazy-refcount writer did not close the image).</param>
/// <param name="IsCorrupt">The corrupt bit: a writer found the metadata inconsistent.</param>
/// <param name="SnapshotCount">How many internal snapshots the image has.</param>
public sealed record Qcow2Info(
    int Version,
    ulong VirtualSize,
    long ClusterSize,
    int RefcountBits,
    string? BackingFile,
    string? BackingFormat,
    bool IsDirty,
    bool IsCorrupt,
    int SnapshotCount);
