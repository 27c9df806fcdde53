namespace Sharpvisor.Storage.Qcow2;

/// <summary>The bounds a qcow2 image must stay in, as qemu's own limits, so that a hostile one cannot make us allocate absurd tables.</summary>
internal static class Qcow2Limits
{
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;

    /// <summary>QEMU refuses an L1 table over 32 MiB; a larger one could only be an attempt to exhaust memory.</summary>
    public const long MaxL1Bytes = 32L << 20;

    /// <summary>QEMU's refcount table limit, 8 MiB.</summary>
    public const long MaxRefcountTableBytes = 8L << 20;

    /// <summary>QEMU's limit for a backing file name.</summary>
    public const int MaxBackingNameBytes = 1023;

    /// <summary>How deep a backing chain may go before it is taken for a loop we failed to see.</summary>
    public const int MaxBackingDepth = 64;

    /// <summary>The first cluster holds the header and its extensions; v2 headers are this long.</summary>
    public const int V2HeaderLength = 72;

    /// <summary>A v3 header without the compression type byte.</summary>
    public const int V3MinHeaderLength = 104;

    /// <summary>The L1 and L2 entries' host offset bits, 9..55.</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>The "copied" flag: the cluster's refcount is exactly one, so it may be written in place.</summary>
    public const ulong CopiedFlag = 1UL << 63;

    /// <summary>The L2 entry's compressed flag.</summary>
    public const ulong CompressedFlag = 1UL << 62;

    /// <summary>The standard L2 entry's zero flag (v3 only).</summary>
    public const ulong ZeroFlag = 1UL;

    /// <summary>Bits an L1 entry must leave clear: 1..8 and 56..62.</summary>
    public const ulong L1ReservedMask = 0x7f00_0000_0000_01feUL;

    /// <summary>Bits a standard L2 entry must leave clear: 1..8 and 56..61 (bit 0 too in v2).</summary>
    public const ulong L2ReservedMask = 0x3f00_0000_0000_01feUL;

    /// <summary>Bits a refcount table entry must leave clear: 0..8.</summary>
    public const ulong RefcountTableReservedMask = 0x1ffUL;
}
