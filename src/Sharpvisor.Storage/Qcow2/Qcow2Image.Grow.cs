using System.Buffers.Binary;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>Growing an image's virtual size in place.</summary>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Grows the image at <paramref name="path"/> (not open elsewhere: it is locked exclusively) to
    /// <paramref name="newSize"/> bytes, a multiple of 512. When the L1 table needs more entries they must fit in the
    /// clusters it already occupies: the new entries are zeroed and synced before the header names them, so a crash
    /// leaves either the old size or the new one. Moving the L1 table, shrinking, and images marked dirty or corrupt
    /// are refused with <see cref="NotSupportedException"/> naming the reason.
    /// </summary>
    public static void Grow(string path, ulong newSize)
    {
        if (newSize % 512 != 0)
        {
            throw new ArgumentException($"virtual size {newSize} is not a multiple of 512", nameof(newSize));
        }

        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var header = Qcow2Header.Read(file, RandomAccess.GetLength(file));
        if (header.IsCorrupt || header.IsDirty)
        {
            throw new NotSupportedException(
                $"image is marked {(header.IsCorrupt ? "corrupt" : "dirty")}: repair it (qemu-img check -r all) before resizing");
        }

        if (newSize < header.Size)
        {
            throw new NotSupportedException($"shrinking a qcow2 image (from {header.Size} to {newSize} bytes) is not supported");
        }

        if (newSize == header.Size)
        {
            return;
        }

        var needed = Qcow2Header.L1EntriesFor(newSize, (uint)header.ClusterBits);
        if (newSize > long.MaxValue || needed * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw new NotSupportedException($"virtual size {newSize} needs an L1 table over {Qcow2Limits.MaxL1Bytes >> 20} MiB");
        }

        var l1Entries = (ulong)header.L1Size;
        if (needed > l1Entries)
        {
            // The L1 table owns whole clusters: entries up to their end are ours to use without allocating anything.
            var room = checked((((l1Entries * 8) + (ulong)header.ClusterSize - 1) / (ulong)header.ClusterSize) * (ulong)header.ClusterSize / 8);
            if (header.L1Size == 0 || needed > room)
            {
                var largest = checked(room * (1UL << ((2 * header.ClusterBits) - 3)));
                throw new NotSupportedException(
                    $"growing to {newSize} bytes needs an L1 table of {needed} entries, more than its clusters hold ({room} entries, " +
                    $"up to {largest} bytes): moving the L1 table is not supported");
            }

            RandomAccess.Write(file, new byte[(needed - l1Entries) * 8], checked(header.L1TableOffset + (long)(l1Entries * 8)));
            RandomAccess.FlushToDisk(file);
            l1Entries = needed;
        }

        // Size (bytes 24..31), crypt_method (32..35, zero: encryption is refused) and l1_size (36..39) in one write of
        // one sector, so that the two numbers change together.
        Span<byte> fields = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(fields, newSize);
        BinaryPrimitives.WriteUInt32BigEndian(fields[8..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(fields[12..], (uint)l1Entries);
        RandomAccess.Write(file, fields, 24);
        RandomAccess.FlushToDisk(file);
    }
}
