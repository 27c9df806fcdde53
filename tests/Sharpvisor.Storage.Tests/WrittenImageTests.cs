using System.Text.Json;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>Images we wrote: qemu-img check finds them clean and qemu-img compare finds them equal to a raw reference.</summary>
public sealed class WrittenImageTests
{

    [QemuTheory]
    [InlineData(12, false, 1)]
    [InlineData(16, false, 2)]
    [InlineData(16, true, 3)]
    [InlineData(12, true, 4)]
    public void RandomWorkloadMatchesReference(int clusterBits, bool withBacking, int seed)
    {
        using var dir = new TempDirectory();
        var size = 256L << clusterBits; // few enough clusters that writes, zeroes and discards keep meeting
        var random = new Random(seed);
        var reference = new byte[size];
        string? backing = null;
        if (withBacking)
        {
            random.NextBytes(reference.AsSpan(0, (int)(size * 3 / 4)));
            File.WriteAllBytes(dir["base.raw"], reference.AsSpan(0, (int)(size * 3 / 4)).ToArray());
            backing = "base.raw";
        }

        File.WriteAllBytes(dir["ref.raw"], reference);
        Qcow2Image.Create(dir["a.qcow2"], (ulong)size, clusterBits, backing);
        var cache = new Qcow2CacheOptions(L2CacheBytes: 1, RefcountCacheBytes: 1); // two tables each: evictions happen
        var workload = new Workload(random, 1L << clusterBits);
        using (var image = Qcow2Image.Open(dir["a.qcow2"], readOnly: false, cache))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            for (var i = 0; i < 300; i++)
            {
                workload.Step(image, raw);
            }
        }

        Qemu.AssertClean(dir["a.qcow2"]);
        var (code, stdout, stderr) = Qemu.Run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", dir["a.qcow2"], dir["ref.raw"]);
        Assert.True(code == 0, $"qemu-img compare exited {code}: {stdout}{stderr}");
        using var reopened = Qcow2Image.Open(dir["a.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(reopened, dir["ref.raw"]);
    }

    /// <summary>Every refcount width, and version 2 (no zero flag), written by us after qemu.</summary>
    [QemuTheory]
    [InlineData("cluster_size=4k")]
    [InlineData("cluster_size=4k,refcount_bits=1")]
    [InlineData("cluster_size=4k,refcount_bits=4")]
    [InlineData("cluster_size=4k,refcount_bits=8")]
    [InlineData("cluster_size=4k,refcount_bits=32")]
    [InlineData("cluster_size=4k,refcount_bits=64")]
    [InlineData("cluster_size=4k,compat=0.10")]
    public void WritesIntoQemuMadeImagesStayClean(string options)
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", options, dir["a.qcow2"], "1M");
        File.WriteAllBytes(dir["ref.raw"], new byte[1 << 20]);
        string[] commands = ["write -P 0xab 0 64k", "write -P 0xcd 512k 10k", "write -z 800k 8k"];
        Qemu.Io("qcow2", dir["a.qcow2"], commands);
        Qemu.Io("raw", dir["ref.raw"], commands);
        var workload = new Workload(new Random(11), 4096);
        using (var image = Qcow2Image.Open(dir["a.qcow2"], readOnly: false))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            for (var i = 0; i < 200; i++)
            {
                workload.Step(image, raw);
            }
        }

        Qemu.AssertClean(dir["a.qcow2"]);
        using var reopened = Qcow2Image.Open(dir["a.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(reopened, dir["ref.raw"]);
    }

    [QemuFact]
    public void Version2OverlayWritesStayClean()
    {
        using var dir = new TempDirectory();
        var data = new byte[1 << 20];
        new Random(9).NextBytes(data);
        File.WriteAllBytes(dir["base.raw"], data);
        File.WriteAllBytes(dir["ref.raw"], data);
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k,compat=0.10", "-b", "base.raw", "-F", "raw", dir["v2.qcow2"], "1M");
        var workload = new Workload(new Random(10), 4096);
        using (var image = Qcow2Image.Open(dir["v2.qcow2"], readOnly: false))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            for (var i = 0; i < 200; i++)
            {
                workload.Step(image, raw);
            }
        }

        Qemu.AssertClean(dir["v2.qcow2"]);
        var (code, stdout, stderr) = Qemu.Run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", dir["v2.qcow2"], dir["ref.raw"]);
        Assert.True(code == 0, $"qemu-img compare exited {code}: {stdout}{stderr}");
    }

    [QemuFact]
    public void WritesOverCompressedClustersCopyThem()
    {
        using var dir = new TempDirectory();
        var data = new byte[2 << 20];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i / 1000);
        }

        File.WriteAllBytes(dir["ref.raw"], data);
        Qemu.Img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", dir["ref.raw"], dir["c.qcow2"]);
        var workload = new Workload(new Random(5), 4096);
        using (var image = Qcow2Image.Open(dir["c.qcow2"], readOnly: false))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            for (var i = 0; i < 100; i++)
            {
                workload.Step(image, raw);
            }
        }

        Qemu.AssertClean(dir["c.qcow2"]);
        using var reopened = Qcow2Image.Open(dir["c.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(reopened, dir["ref.raw"]);
    }

    /// <summary>A few hundred operations, each checked against the reference as it happens, with a reopen in the middle.</summary>
    [QemuFact]
    public void PropertyHoldsAcrossReopen()
    {
        using var dir = new TempDirectory();
        const long size = 4 << 20;
        Qcow2Image.Create(dir["p.qcow2"], size, clusterBits: 12);
        File.WriteAllBytes(dir["ref.raw"], new byte[size]);
        var random = new Random(42);
        var workload = new Workload(random, 4096);
        using var raw = RawImage.Open(dir["ref.raw"], readOnly: false);
        for (var round = 0; round < 2; round++)
        {
            using var image = Qcow2Image.Open(dir["p.qcow2"], readOnly: false);
            for (var i = 0; i < 150; i++)
            {
                workload.Step(image, raw);
                if (i % 50 == 0)
                {
                    image.Flush();
                }

                // Spot checks as we go; the whole image at the end of each round.
                var at = random.NextInt64(size - 8192);
                var expected = new byte[8192];
                var actual = new byte[8192];
                raw.Read(at, expected);
                image.Read(at, actual);
                Assert.Equal(expected, actual);
            }

            image.Flush();
            ImageAssert.SameAs(image, raw);
        }

        Qemu.AssertClean(dir["p.qcow2"]);
    }

    [QemuTheory]
    [InlineData(9, 3UL << 30)]
    [InlineData(16, 3UL << 30)]
    [InlineData(21, 3UL << 30)]
    [InlineData(16, (1UL << 40) + 512)]
    [InlineData(12, 12800)]
    public void CreatedImageIsClean(int clusterBits, ulong size)
    {
        using var dir = new TempDirectory();
        Qcow2Image.Create(dir["n.qcow2"], size, clusterBits);
        Qemu.AssertClean(dir["n.qcow2"]);
        using var info = JsonDocument.Parse(Qemu.Img("info", "--output=json", dir["n.qcow2"]));
        Assert.Equal((long)size, info.RootElement.GetProperty("virtual-size").GetInt64());
        Assert.Equal(1L << clusterBits, info.RootElement.GetProperty("cluster-size").GetInt64());
    }

    [QemuFact]
    public void CreatedOverlayNamesItsBacking()
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", dir["base.qcow2"], "1M");
        Qemu.Io("qcow2", dir["base.qcow2"], "write -P 0x5a 0 1m");
        Qcow2Image.Create(dir["top.qcow2"], 2 << 20, backingFile: "base.qcow2");
        Qemu.AssertClean(dir["top.qcow2"]);
        using var info = JsonDocument.Parse(Qemu.Img("info", "--output=json", dir["top.qcow2"]));
        Assert.Equal(2L << 20, info.RootElement.GetProperty("virtual-size").GetInt64());
        Assert.Equal("base.qcow2", info.RootElement.GetProperty("backing-filename").GetString());
        Assert.Equal("qcow2", info.RootElement.GetProperty("backing-filename-format").GetString());

        using var image = Images.Open(dir["top.qcow2"], readOnly: true);
        var expected = new byte[2 << 20];
        Array.Fill(expected, (byte)0x5a, 0, 1 << 20);
        ImageAssert.SameBytes(image, expected, 0, expected.Length);
    }

    /// <summary>Discarded clusters are reused once the discard is committed: a disk trimmed and refilled does not grow its file.</summary>
    [QemuFact]
    public void DiscardedClustersAreReused()
    {
        using var dir = new TempDirectory();
        Qcow2Image.Create(dir["t.qcow2"], 4 << 20, clusterBits: 12);
        var data = new byte[2 << 20];
        new Random(6).NextBytes(data);
        using (var image = Qcow2Image.Open(dir["t.qcow2"], readOnly: false))
        {
            for (var round = 0; round < 5; round++)
            {
                image.Write((round % 2) << 20, data);
                image.Flush();
                image.Discard(0, 4 << 20);
                image.Flush();
            }

            image.Write(1 << 20, data);
        }

        Assert.InRange(new FileInfo(dir["t.qcow2"]).Length, 2 << 20, 3 << 20);
        Qemu.AssertClean(dir["t.qcow2"]);
        using var reopened = Qcow2Image.Open(dir["t.qcow2"], readOnly: true);
        var expected = new byte[4 << 20];
        data.CopyTo(expected, 1 << 20);
        ImageAssert.SameBytes(reopened, expected, 0, expected.Length);
    }

    /// <summary>
    /// A guest that writes part of a cluster and discards it, round after round, and never flushes: each round lets go
    /// of a cluster and takes a new one, and the file must not grow by a cluster a round (found by an attacker's review).
    /// </summary>
    [QemuFact]
    public void WritingAndDiscardingWithoutFlushingDoesNotGrowTheFileWithoutBound()
    {
        using var dir = new TempDirectory();
        Qcow2Image.Create(dir["d.qcow2"], 1 << 20, clusterBits: 12);
        var start = new FileInfo(dir["d.qcow2"]).Length;
        var data = new byte[512];
        Array.Fill(data, (byte)0x77);
        using (var image = Qcow2Image.Open(dir["d.qcow2"], readOnly: false))
        {
            for (var round = 0; round < 5000; round++)
            {
                image.Write(0, data);
                image.Discard(0, 4096);
            }

            image.Write(0, data);
        }

        Assert.InRange(new FileInfo(dir["d.qcow2"]).Length - start, 0, 256 * 4096);
        Qemu.AssertClean(dir["d.qcow2"]);
        using var reopened = Qcow2Image.Open(dir["d.qcow2"], readOnly: true);
        var expected = new byte[4096];
        data.CopyTo(expected, 0);
        ImageAssert.SameBytes(reopened, expected, 0, expected.Length);
    }

    [Fact]
    public void RawImageRefusesOutOfRangeAndReadOnlyWrites()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["r.raw"], new byte[8192]);
        using (var raw = RawImage.Open(dir["r.raw"], readOnly: false))
        {
            raw.Write(4096, new byte[] { 1, 2, 3 });
            Assert.Throws<ArgumentOutOfRangeException>(() => raw.Write(8190, new byte[3]));
            Assert.Throws<ArgumentOutOfRangeException>(() => raw.WriteZeroes(-1, 2));
            raw.WriteZeroes(4097, 1);
            raw.Flush();
        }

        Assert.Equal(new byte[] { 1, 0, 3 }, File.ReadAllBytes(dir["r.raw"])[4096..4099]);
        using var readOnly = Images.Open(dir["r.raw"], readOnly: true);
        Assert.Throws<InvalidOperationException>(() => readOnly.Write(0, new byte[1]));
    }

    [Fact]
    public void CreateRefusesSizesQemuCannotShow()
    {
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => Qcow2Image.Create(dir["odd.qcow2"], 12345));
        Assert.Throws<ArgumentOutOfRangeException>(() => Qcow2Image.Create(dir["huge.qcow2"], 1UL << 63));
        Assert.Throws<ArgumentOutOfRangeException>(() => Qcow2Image.Create(dir["bits.qcow2"], 1 << 20, clusterBits: 22));
        Assert.False(File.Exists(dir["odd.qcow2"]));
    }

    [QemuFact]
    public void OutOfRangeRequestsAreRefused()
    {
        using var dir = new TempDirectory();
        Qcow2Image.Create(dir["r.qcow2"], 1 << 20);
        using var image = Qcow2Image.Open(dir["r.qcow2"], readOnly: false);
        Assert.Throws<ArgumentOutOfRangeException>(() => image.Write((1 << 20) - 10, new byte[11]));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.Read(-1, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.Discard(0, (1 << 20) + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => image.WriteZeroes(long.MaxValue, 1));
    }
}
