using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>Images qemu-img and qemu-io made read back exactly as the same commands applied to a raw file.</summary>
public sealed class QemuMadeImageTests
{
    private static readonly string[] Patterns =
    [
        "write -P 0xab 0 64k",
        "write -P 0x11 100000 3000",
        "write -P 0x22 1m 5k",
        "write -P 0x33 3m 130k",
        "write -z 3m 64k",
        "write -P 0x44 8387584 512",
    ];

    [QemuFact]
    public void EmptyImageReadsAsZeros()
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", dir["a.qcow2"], "8M");
        File.WriteAllBytes(dir["ref.raw"], new byte[8 << 20]);
        using var image = Images.Open(dir["a.qcow2"], readOnly: true);
        Assert.IsType<Qcow2Image>(image);
        ImageAssert.SameAsRaw(image, dir["ref.raw"]);
    }

    [QemuTheory]
    [InlineData(12, "1.1")]
    [InlineData(16, "1.1")]
    [InlineData(21, "1.1")]
    [InlineData(16, "0.10")]
    public void WrittenPatternsReadBack(int clusterBits, string compat)
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", $"cluster_size={1 << clusterBits},compat={compat}", dir["a.qcow2"], "8M");
        File.WriteAllBytes(dir["ref.raw"], new byte[8 << 20]);
        Qemu.Io("qcow2", dir["a.qcow2"], Patterns);
        Qemu.Io("raw", dir["ref.raw"], Patterns);
        using var image = Qcow2Image.Open(dir["a.qcow2"], readOnly: true);
        Assert.Equal(1L << clusterBits, image.ClusterSize);
        ImageAssert.SameAsRaw(image, dir["ref.raw"]);
    }

    [QemuFact]
    public void BackingChainReadsEveryLevel()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["base.raw"], new byte[6 << 20]); // smaller than the overlays: past its end reads zero
        Qemu.Io("raw", dir["base.raw"], "write -P 0x01 0 6m");
        Qemu.Img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", dir["mid.qcow2"], "8M");
        Qemu.Io("qcow2", dir["mid.qcow2"], "write -P 0x02 64k 200k", "write -z 1m 128k", "write -P 0x03 7m 100k");
        Qemu.Img("create", "-q", "-f", "qcow2", "-b", dir["mid.qcow2"], "-F", "qcow2", dir["top.qcow2"], "8M");
        Qemu.Io("qcow2", dir["top.qcow2"], "write -P 0x04 100k 10k", "write -P 0x05 5m 2m");

        var reference = new byte[8 << 20];
        Array.Fill(reference, (byte)0x01, 0, 6 << 20);
        Array.Fill(reference, (byte)0x02, 64 << 10, 200 << 10);
        Array.Fill(reference, (byte)0x00, 1 << 20, 128 << 10);
        Array.Fill(reference, (byte)0x03, 7 << 20, 100 << 10);
        Array.Fill(reference, (byte)0x04, 100 << 10, 10 << 10);
        Array.Fill(reference, (byte)0x05, 5 << 20, 2 << 20);
        File.WriteAllBytes(dir["ref.raw"], reference);

        using var image = Images.Open(dir["top.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(image, dir["ref.raw"]);
    }

    [QemuFact]
    public void CompressedClustersInflate()
    {
        using var dir = new TempDirectory();
        var data = new byte[4 << 20];
        var random = new Random(7);
        for (var i = 0; i < data.Length; i += 4096)
        {
            // Runs of repeated and random bytes: some clusters compress well, some not at all (stored uncompressed).
            if (i % (3 * 4096) == 0)
            {
                random.NextBytes(data.AsSpan(i, 4096));
            }
            else
            {
                Array.Fill(data, (byte)(i / 4096), i, 4096);
            }
        }

        File.WriteAllBytes(dir["ref.raw"], data);
        Qemu.Img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=16k", dir["ref.raw"], dir["c.qcow2"]);
        using var image = Qcow2Image.Open(dir["c.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(image, dir["ref.raw"]);
    }

    [QemuFact]
    public void ProbeTellsFormats()
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", dir["a.qcow2"], "1M");
        File.WriteAllBytes(dir["a.raw"], new byte[4096]);
        Assert.Equal(DiskFormat.Qcow2, ImageFormat.Probe(dir["a.qcow2"]));
        Assert.Equal(DiskFormat.Raw, ImageFormat.Probe(dir["a.raw"]));
        using var raw = Images.Open(dir["a.raw"], readOnly: true);
        Assert.IsType<RawImage>(raw);
    }
}
