using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// A qcow2 header (QEMU's docs/interop/qcow2.txt), read from the first cluster and checked field by field before any
/// of its numbers is used to size or place anything: what is here can be trusted by <see cref="Qcow2Image"/>.
/// </summary>
internal sealed class Qcow2Header
{
    public const ulong DirtyBit = 1UL << 0;
    public const ulong CorruptBit = 1UL << 1;
    public const ulong ExternalDataFileBit = 1UL << 2;
    public const ulong CompressionTypeBit = 1UL << 3;
    public const ulong ExtendedL2Bit = 1UL << 4;

    public const int IncompatibleFeaturesOffset = 72;
    public const int AutoclearFeaturesOffset = 88;

    private const uint BackingFormatExtension = 0xe2792aca;
    private const uint FeatureNameTableExtension = 0x6803f857;

    public required int Version { get; init; }

    public required int ClusterBits { get; init; }

    public long ClusterSize => 1L << ClusterBits;

    public required ulong Size { get; init; }

    public required int L1Size { get; init; }

    public required long L1TableOffset { get; init; }

    public required long RefcountTableOffset { get; init; }

    public required int RefcountTableClusters { get; init; }

    public required int SnapshotCount { get; init; }

    public required ulong IncompatibleFeatures { get; init; }

    public required ulong AutoclearFeatures { get; init; }

    public required int RefcountOrder { get; init; }

    public string? BackingFile { get; init; }

    public string? BackingFormat { get; init; }

    public bool IsDirty => (IncompatibleFeatures & DirtyBit) != 0;

    public bool IsCorrupt => (IncompatibleFeatures & CorruptBit) != 0;

    /// <summary>Reads and checks the header of an image file of <paramref name="fileLength"/> bytes.</summary>
    public static Qcow2Header Read(SafeFileHandle file, long fileLength)
    {
        if (fileLength < Qcow2Limits.V2HeaderLength)
        {
            throw new Qcow2FormatException($"truncated image: {fileLength} bytes is shorter than a qcow2 header");
        }

        // The header and its extensions live in the first cluster, at most 2 MiB; read what the file has of it.
        var first = new byte[(int)Math.Min(fileLength, 1L << Qcow2Limits.MaxClusterBits)];
        ReadExactly(file, first, 0);
        ReadOnlySpan<byte> h = first;

        if (BinaryPrimitives.ReadUInt32BigEndian(h) != ImageFormat.Qcow2Magic)
        {
            throw new Qcow2FormatException("bad magic: not a qcow2 image");
        }

        var version = BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
        if (version is not (2 or 3))
        {
            throw new Qcow2FormatException($"unsupported qcow2 version {version}");
        }

        var clusterBits = BinaryPrimitives.ReadUInt32BigEndian(h[20..]);
        if (clusterBits is < Qcow2Limits.MinClusterBits or > Qcow2Limits.MaxClusterBits)
        {
            throw new Qcow2FormatException(
                $"cluster_bits {clusterBits} outside {Qcow2Limits.MinClusterBits}..{Qcow2Limits.MaxClusterBits}");
        }

        var clusterSize = 1L << (int)clusterBits;
        var headerLength = (long)Qcow2Limits.V2HeaderLength;
        var incompatible = 0UL;
        var autoclear = 0UL;
        var refcountOrder = 4u;
        if (version == 3)
        {
            if (fileLength < Qcow2Limits.V3MinHeaderLength)
            {
                throw new Qcow2FormatException($"truncated image: {fileLength} bytes is shorter than a version 3 header");
            }

            incompatible = BinaryPrimitives.ReadUInt64BigEndian(h[72..]);
            autoclear = BinaryPrimitives.ReadUInt64BigEndian(h[88..]);
            refcountOrder = BinaryPrimitives.ReadUInt32BigEndian(h[96..]);
            headerLength = BinaryPrimitives.ReadUInt32BigEndian(h[100..]);
            if (headerLength < Qcow2Limits.V3MinHeaderLength || headerLength % 8 != 0 || headerLength > Math.Min(clusterSize, fileLength))
            {
                throw new Qcow2FormatException($"bad header_length {headerLength}");
            }

            if (refcountOrder > 6)
            {
                throw new Qcow2FormatException($"refcount_order {refcountOrder} outside 0..6");
            }

            if (headerLength > Qcow2Limits.V3MinHeaderLength && h[104] != 0 && (incompatible & CompressionTypeBit) == 0)
            {
                throw new Qcow2FormatException($"compression type {h[104]} set without its incompatible feature bit");
            }
        }

        var cryptMethod = BinaryPrimitives.ReadUInt32BigEndian(h[32..]);
        if (cryptMethod != 0)
        {
            throw new NotSupportedException($"qcow2 encryption (crypt_method {cryptMethod}) is not supported");
        }

        var size = BinaryPrimitives.ReadUInt64BigEndian(h[24..]);
        if (size > long.MaxValue)
        {
            throw new Qcow2FormatException($"virtual size {size} is too large");
        }

        var l1Size = BinaryPrimitives.ReadUInt32BigEndian(h[36..]);
        var l1Offset = BinaryPrimitives.ReadUInt64BigEndian(h[40..]);
        var refcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(h[48..]);
        var refcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(h[56..]);
        var snapshotCount = BinaryPrimitives.ReadUInt32BigEndian(h[60..]);
        var backingOffset = BinaryPrimitives.ReadUInt64BigEndian(h[8..]);
        var backingSize = BinaryPrimitives.ReadUInt32BigEndian(h[16..]);

        CheckL1(size, clusterBits, l1Size, l1Offset, fileLength);
        CheckRefcountTable(refcountTableOffset, refcountTableClusters, clusterSize, fileLength);
        if (snapshotCount > 65536)
        {
            throw new Qcow2FormatException($"nb_snapshots {snapshotCount} is absurd");
        }

        // The extensions run from the end of the header to the backing file name, or to the end of the first cluster.
        var extensionsEnd = Math.Min(clusterSize, first.Length);
        if (backingOffset != 0 && backingOffset < (ulong)extensionsEnd)
        {
            extensionsEnd = (int)backingOffset;
        }

        var (backingFormat, featureNames) = ReadExtensions(first.AsSpan(0, (int)extensionsEnd), (int)headerLength);
        CheckIncompatibleFeatures(incompatible, featureNames);

        string? backingFile = null;
        if (backingOffset != 0 || backingSize != 0)
        {
            if (backingSize == 0 || backingSize > Qcow2Limits.MaxBackingNameBytes)
            {
                throw new Qcow2FormatException($"backing file name of {backingSize} bytes");
            }

            var nameAreaEnd = (ulong)Math.Min(clusterSize, first.Length);
            if (backingOffset < (ulong)headerLength || backingOffset > nameAreaEnd || backingSize > nameAreaEnd - backingOffset)
            {
                throw new Qcow2FormatException($"backing file name at {backingOffset} is outside the header cluster");
            }

            backingFile = DecodeName(first.AsSpan((int)backingOffset, (int)backingSize), "backing file name");
        }

        return new Qcow2Header
        {
            Version = (int)version,
            ClusterBits = (int)clusterBits,
            Size = size,
            L1Size = (int)l1Size,
            L1TableOffset = (long)l1Offset,
            RefcountTableOffset = (long)refcountTableOffset,
            RefcountTableClusters = (int)refcountTableClusters,
            SnapshotCount = (int)snapshotCount,
            IncompatibleFeatures = incompatible,
            AutoclearFeatures = autoclear,
            RefcountOrder = (int)refcountOrder,
            BackingFile = backingFile,
            BackingFormat = backingFile is null ? null : backingFormat,
        };
    }

    /// <summary>How many L1 entries a disk of <paramref name="size"/> bytes needs with 2^<paramref name="clusterBits"/> clusters.</summary>
    public static ulong L1EntriesFor(ulong size, uint clusterBits)
    {
        // One L1 entry maps an L2 table of cluster/8 entries, each a cluster: 2^(2*bits-3) bytes, at most 2^39.
        var bytesPerL1Entry = 1UL << (int)(2 * clusterBits - 3);
        return (size / bytesPerL1Entry) + (size % bytesPerL1Entry == 0 ? 0UL : 1UL);
    }

    public static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(file, buffer, offset);
            if (read == 0)
            {
                buffer.Clear();
                return;
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    private static void CheckL1(ulong size, uint clusterBits, uint l1Size, ulong l1Offset, long fileLength)
    {
        var needed = L1EntriesFor(size, clusterBits);
        if (needed * 8 > Qcow2Limits.MaxL1Bytes || (ulong)l1Size * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw new Qcow2FormatException(
                $"L1 table of {Math.Max(needed, l1Size)} entries is over the {Qcow2Limits.MaxL1Bytes >> 20} MiB limit (virtual size {size})");
        }

        if (l1Size < needed)
        {
            throw new Qcow2FormatException($"L1 table of {l1Size} entries is too small for the virtual size {size}");
        }

        if (l1Size == 0)
        {
            return;
        }

        if (l1Offset % (1UL << (int)clusterBits) != 0 || l1Offset == 0)
        {
            throw new Qcow2FormatException($"L1 table offset {l1Offset} is not a cluster boundary past the header");
        }

        if (l1Offset > (ulong)fileLength || (ulong)l1Size * 8 > (ulong)fileLength - l1Offset)
        {
            throw new Qcow2FormatException($"L1 table at {l1Offset} is past the end of the file ({fileLength} bytes)");
        }
    }

    private static void CheckRefcountTable(ulong offset, uint clusters, long clusterSize, long fileLength)
    {
        if (clusters == 0 || clusters * (ulong)clusterSize > Qcow2Limits.MaxRefcountTableBytes)
        {
            throw new Qcow2FormatException($"refcount table of {clusters} clusters");
        }

        if (offset == 0 || offset % (ulong)clusterSize != 0)
        {
            throw new Qcow2FormatException($"refcount table offset {offset} is not a cluster boundary past the header");
        }

        // All of it inside the file: clusters appended at the end must never land on its tail, where a guest's data
        // would then be read back as refcount table entries.
        if (offset >= (ulong)fileLength || clusters * (ulong)clusterSize > (ulong)fileLength - offset)
        {
            throw new Qcow2FormatException($"refcount table of {clusters} clusters at {offset} runs past the end of the file ({fileLength} bytes)");
        }
    }

    /// <summary>Walks the extensions (bounded: each step moves at least 8 bytes inside the first cluster).</summary>
    private static (string? BackingFormat, Dictionary<int, string> IncompatibleNames) ReadExtensions(ReadOnlySpan<byte> area, int start)
    {
        string? backingFormat = null;
        var names = new Dictionary<int, string>();
        var position = start;
        while (position + 8 <= area.Length)
        {
            var type = BinaryPrimitives.ReadUInt32BigEndian(area[position..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(area[(position + 4)..]);
            if (type == 0)
            {
                break;
            }

            if (length > (uint)(area.Length - position - 8))
            {
                throw new Qcow2FormatException($"header extension 0x{type:x8} of {length} bytes overruns the header cluster");
            }

            var data = area.Slice(position + 8, (int)length);
            if (type == BackingFormatExtension)
            {
                backingFormat = DecodeName(data, "backing format name");
            }
            else if (type == FeatureNameTableExtension)
            {
                // 48-byte entries: type (0 = incompatible), bit number, 46 bytes of NUL-padded name.
                for (var entry = 0; entry + 48 <= data.Length; entry += 48)
                {
                    if (data[entry] == 0)
                    {
                        names[data[entry + 1]] = DecodeName(data.Slice(entry + 2, 46), "feature name");
                    }
                }
            }

            position += 8 + (int)((length + 7) & ~7u);
        }

        return (backingFormat, names);
    }

    private static void CheckIncompatibleFeatures(ulong incompatible, Dictionary<int, string> names)
    {
        if ((incompatible & ExternalDataFileBit) != 0)
        {
            throw new NotSupportedException("qcow2 feature \"external data file\" (incompatible bit 2) is not supported");
        }

        if ((incompatible & CompressionTypeBit) != 0)
        {
            throw new NotSupportedException("qcow2 feature \"compression type\" (non-zlib compression, incompatible bit 3) is not supported");
        }

        if ((incompatible & ExtendedL2Bit) != 0)
        {
            throw new NotSupportedException("qcow2 feature \"extended L2 entries\" (incompatible bit 4) is not supported");
        }

        var unknown = incompatible & ~(DirtyBit | CorruptBit);
        if (unknown != 0)
        {
            var bit = System.Numerics.BitOperations.TrailingZeroCount(unknown);
            var name = names.TryGetValue(bit, out var n) ? $" \"{n}\"" : string.Empty;
            throw new NotSupportedException($"unknown qcow2 incompatible feature{name} (bit {bit}) is not supported");
        }
    }

    private static string DecodeName(ReadOnlySpan<byte> bytes, string what)
    {
        var end = bytes.IndexOf((byte)0);
        var text = end < 0 ? bytes : bytes[..end];
        try
        {
            return new UTF8Encoding(false, true).GetString(text);
        }
        catch (DecoderFallbackException e)
        {
            throw new Qcow2FormatException($"{what} is not UTF-8", e);
        }
    }
}
