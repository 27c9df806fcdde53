namespace Sharpvisor.Storage.Qcow2;

/// <summary>A cached L2 table: its host offset, its entries, and whether they differ from what is on disk.</summary>
internal sealed class L2Table(long offset, ulong[] entries)
{
    public long Offset { get; } = offset;

    public ulong[] Entries { get; } = entries;

    /// <summary>Changed in memory and not written yet: written only by a commit, after the data it points at is durable.</summary>
    public bool Dirty { get; set; }
}
