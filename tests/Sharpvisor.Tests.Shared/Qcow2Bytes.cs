using System.Buffers.Binary;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// Reads and patches a qcow2 file's big-endian fields in place, to make the damaged and hostile images the storage and
/// CLI tests feed to the code under test (qemu-img makes the image, a patch breaks it). The helpers that walk the
/// tables read the first L1 entry and its L2 table only: the tests' images are small.
/// </summary>
public static class Qcow2Bytes
{
    /// <summary>The host offset bits of an L1 or L2 entry (the flags and the compressed bits masked off).</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>The big-endian 64-bit value at <paramref name="offset"/> in the file at <paramref name="path"/>.</summary>
    public static ulong ReadU64(string path, long offset)
    {
        using var file = File.OpenHandle(path);
        var bytes = new byte[8];
        RandomAccess.Read(file, bytes, offset);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    /// <summary>Writes <paramref name="value"/> big-endian at <paramref name="offset"/>; returns <paramref name="path"/>.</summary>
    public static string Patch(string path, long offset, ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return Patch(path, offset, bytes);
    }

    /// <summary>Writes <paramref name="value"/> big-endian at <paramref name="offset"/>; returns <paramref name="path"/>.</summary>
    public static string Patch(string path, long offset, uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return Patch(path, offset, bytes);
    }

    /// <summary>Writes <paramref name="value"/> big-endian at <paramref name="offset"/>; returns <paramref name="path"/>.</summary>
    public static string Patch(string path, long offset, ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return Patch(path, offset, bytes);
    }

    /// <summary>Writes <paramref name="bytes"/> at <paramref name="offset"/>; returns <paramref name="path"/>.</summary>
    public static string Patch(string path, long offset, byte[] bytes)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.Write(file, bytes, offset);
        return path;
    }

    /// <summary>Where the L1 table starts (the header's l1_table_offset, at byte 40).</summary>
    public static long L1Offset(string path) => (long)ReadU64(path, 40);

    /// <summary>Where the L2 table of the first L1 entry starts.</summary>
    public static long L2Offset(string path) => (long)(ReadU64(path, L1Offset(path)) & OffsetMask);

    /// <summary>
    /// The first refcount block: the one the refcount table (the header's refcount_table_offset, at byte 48) names
    /// first, which counts the image's first clusters.
    /// </summary>
    public static long FirstRefcountBlock(string path) => (long)ReadU64(path, (long)ReadU64(path, 48));

    /// <summary>
    /// The cluster index of the second guest cluster's data, in an image of 64 KiB clusters (qemu-img's default) with
    /// the guest's first 128 KiB written: its last data cluster.
    /// </summary>
    public static long LastDataCluster(string path) => (long)(ReadU64(path, L2Offset(path) + 8) & OffsetMask) >> 16;

    /// <summary>
    /// Sets the 16-bit refcount (qemu-img's default width) of <paramref name="cluster"/>, one of those the first
    /// refcount block counts.
    /// </summary>
    public static void SetRefcount(string path, long cluster, ushort value) =>
        Patch(path, FirstRefcountBlock(path) + (cluster * 2), value);
}
