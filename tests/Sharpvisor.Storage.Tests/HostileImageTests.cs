using Sharpvisor.Storage.Qcow2;
using static Sharpvisor.Tests.Shared.Qcow2Bytes;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// Crafted images, made by patching a small qemu-made one: each is refused with an exception naming the problem, and
/// reading one never throws anything but <see cref="Qcow2FormatException"/> or <see cref="NotSupportedException"/>.
/// </summary>
public sealed class HostileImageTests : IDisposable
{
    private const int ClusterSize = 4096;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [QemuFact]
    public void TruncatedHeaderIsRefused()
    {
        var path = Small();
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, 50);
        }

        AssertFormatError(path, "truncated");
    }

    [QemuFact]
    public void TruncatedTablesAreRefused()
    {
        var path = Small();
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, L1Offset(path) + 4);
        }

        AssertFormatError(path, "past the end");
    }

    [QemuFact]
    public void BadMagicIsRefused() => AssertFormatError(Patch(Small(), 0, 0x12345678u), "magic");

    [QemuFact]
    public void HugeClusterBitsAreRefused() => AssertFormatError(Patch(Small(), 20, 30u), "cluster_bits 30");

    [QemuFact]
    public void SizeOf2To63IsRefused() => AssertFormatError(Patch(Small(), 24, 1UL << 63), "too large");

    [QemuFact]
    public void AbsurdL1IsRefused() => AssertFormatError(Patch(Small(), 24, 1UL << 62), "L1 table");

    [QemuFact]
    public void L1EntryPastTheEndIsRefused()
    {
        var path = Small();
        AssertFormatError(Patch(path, L1Offset(path), (1UL << 63) | (1UL << 40)), "past the end");
    }

    [QemuFact]
    public void UnalignedL2PointerIsRefused()
    {
        var path = Small();
        AssertFormatError(Patch(path, L1Offset(path), (1UL << 63) | (ulong)(L2Offset(path) + 512)), "not cluster-aligned");
    }

    [QemuFact]
    public void DataPointerOverlappingMetadataIsRefused()
    {
        var path = Small();
        var refcountTable = ReadU64(path, 48);
        AssertReadError(Patch(path, L2Offset(path), (1UL << 63) | refcountTable), "overlaps");
    }

    [QemuFact]
    public void DataPointerPastTheEndIsRefused()
    {
        var path = Small();
        AssertReadError(Patch(path, L2Offset(path) + 8, (1UL << 63) | (1UL << 33)), "past the end");
    }

    [QemuFact]
    public void EncryptionIsRefused() => AssertNotSupported(Patch(Small(), 32, 1u), "encryption");

    [QemuFact]
    public void UnknownIncompatibleBitIsRefused() => AssertNotSupported(Patch(Small(), 72, 1UL << 10), "bit 10");

    [QemuFact]
    public void ExternalDataFileIsRefused() => AssertNotSupported(Patch(Small(), 72, 1UL << 2), "external data file");

    [QemuFact]
    public void ExtendedL2IsRefused() => AssertNotSupported(Patch(Small(), 72, 1UL << 4), "extended L2");

    [QemuFact]
    public void CorruptImageOpensReadOnlyOnly()
    {
        var path = Patch(Small(), 72, 1UL << 1);
        using (Qcow2Image.Open(path, readOnly: true))
        {
        }

        var e = Assert.Throws<Qcow2FormatException>(() => Qcow2Image.Open(path, readOnly: false));
        Assert.Contains("corrupt", e.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public void InternalSnapshotsOpenReadOnlyOnly()
    {
        var path = Small();
        Qemu.Img("snapshot", "-c", "s1", path);
        using (var image = Qcow2Image.Open(path, readOnly: true))
        {
            var first = new byte[ClusterSize];
            image.Read(0, first);
            Assert.All(first, b => Assert.Equal(0xab, b));
        }

        var e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(path, readOnly: false));
        Assert.Contains("snapshots", e.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public void BackingLoopIsRefused()
    {
        Qemu.Img("create", "-q", "-f", "qcow2", _dir["a.qcow2"], "1M");
        Qemu.Img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", _dir["b.qcow2"], "1M");
        Qemu.Img("rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", _dir["a.qcow2"]);
        AssertFormatError(_dir["a.qcow2"], "loops");
        AssertFormatError(_dir["b.qcow2"], "loops");
    }

    [QemuFact]
    public void ABackingFileWhoseFormatTheOverlayDoesNotSayIsNeverGuessed()
    {
        File.WriteAllBytes(_dir["base.raw"], new byte[4096]);
        Qemu.Img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", _dir["o.qcow2"], "4k");
        // Turn the backing-format extension into an unknown one, which readers skip: the overlay no longer says "raw".
        var header = new byte[4096];
        using (var file = File.OpenHandle(_dir["o.qcow2"]))
        {
            RandomAccess.Read(file, header, 0);
        }

        var at = header.AsSpan().IndexOf(new byte[] { 0xe2, 0x79, 0x2a, 0xca });
        Assert.True(at > 0, "no backing format extension in the qemu-made overlay");
        Patch(_dir["o.qcow2"], at, 0x7a7a7a7au);
        var e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(_dir["o.qcow2"], readOnly: true).Dispose());
        Assert.Contains("does not say its backing file's format", e.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public void ARefcountTableRunningPastTheEndOfTheFileIsRefused()
    {
        var path = Small();
        var refcountTable = (long)ReadU64(path, 48);
        Patch(path, 56, 2u); // two clusters of table, at the file's last cluster: the second lies past the end
        Patch(path, 48, (ulong)(new FileInfo(path).Length - ClusterSize));
        AssertFormatError(path, "runs past the end of the file");
        Assert.True(refcountTable > 0);
    }

    [Fact]
    public void BackingChainDeeperThan64IsRefused()
    {
        File.WriteAllBytes(_dir["0.raw"], new byte[4096]);
        Qcow2Image.Create(_dir["1.qcow2"], 4096, backingFile: "0.raw");
        for (var i = 2; i <= 65; i++)
        {
            Qcow2Image.Create(_dir[$"{i}.qcow2"], 4096, backingFile: $"{i - 1}.qcow2");
        }

        using (Qcow2Image.Open(_dir["64.qcow2"], readOnly: true))
        {
            // 64 backing files under it (63 qcow2 and the raw one): the deepest chain allowed
        }

        AssertFormatError(_dir["65.qcow2"], "deeper than 64");
    }

    /// <summary>Random byte flips in the header and tables: any outcome but an unexpected exception type.</summary>
    [QemuFact]
    public void MutatedImagesNeverThrowAnythingElse()
    {
        var original = File.ReadAllBytes(Small());
        var random = new Random(1234);
        var buffer = new byte[64 << 10];
        for (var round = 0; round < 300; round++)
        {
            var bytes = (byte[])original.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                var at = random.Next(2) == 0 ? random.Next(112) : random.Next(Math.Min(bytes.Length, 6 * ClusterSize));
                bytes[at] ^= (byte)(1 << random.Next(8));
            }

            var path = _dir["mutated.qcow2"];
            File.WriteAllBytes(path, bytes);
            try
            {
                using var image = Qcow2Image.Open(path, readOnly: true);
                for (var offset = 0L; offset < (long)Math.Min(image.Size, 4UL << 20); offset += buffer.Length)
                {
                    image.Read(offset, buffer.AsSpan(0, (int)Math.Min(buffer.Length, (long)image.Size - offset)));
                }
            }
            catch (Exception e) when (e is Qcow2FormatException or NotSupportedException or FileNotFoundException)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }
    }

    /// <summary>A 1 MiB image with 4 KiB clusters and data in its first clusters, so that it has an L2 table.</summary>
    private string Small()
    {
        var path = _dir["h.qcow2"];
        File.Delete(path);
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize}", path, "1M");
        Qemu.Io("qcow2", path, "write -P 0xab 0 8k");
        return path;
    }

    private static void AssertFormatError(string path, string expected)
    {
        var e = Assert.Throws<Qcow2FormatException>(() => Qcow2Image.Open(path, readOnly: true).Dispose());
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static void AssertNotSupported(string path, string expected)
    {
        var e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(path, readOnly: true).Dispose());
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static void AssertReadError(string path, string expected)
    {
        using var image = Qcow2Image.Open(path, readOnly: true);
        var e = Assert.Throws<Qcow2FormatException>(() => image.Read(0, new byte[2 * ClusterSize]));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
