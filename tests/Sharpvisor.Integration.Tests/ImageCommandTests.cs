using System.Buffers.Binary;
using System.Text.Json;
using static Sharpvisor.Tests.Shared.Qcow2Bytes;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// <c>sharpvisor image ...</c> run as a process, checked against Debian's qemu-img and qemu-io: what it creates, qemu-img
/// finds clean and describes the same way; what qemu-img made, it describes and checks as qemu-img does (with its exit
/// codes); convert and resize keep every byte. Bad input ends in one line and the documented exit code. No KVM needed.
/// </summary>
public sealed class ImageCommandTests : IDisposable
{
    private static readonly string[] SharedInfoFields =
    [
        "virtual-size", "filename", "format", "actual-size", "cluster-size", "backing-filename", "full-backing-filename",
        "backing-filename-format", "dirty-flag",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-image-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [QemuUtilsFact]
    public async Task CreatedQcow2IsCleanAndQemuImgAgreesOnSizeFormatAndClusterSize()
    {
        var result = await Image("create", "--cluster-size", "4K", Path("a.qcow2"), "100M");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("100 MiB (104857600 bytes)", result.Stdout, StringComparison.Ordinal);
        await QemuUtils.ImgAsync("check", Path("a.qcow2"));
        var info = await QemuInfo(Path("a.qcow2"));
        Assert.Equal(104857600, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal("qcow2", info.GetProperty("format").GetString());
        Assert.Equal(4096, info.GetProperty("cluster-size").GetInt64());
        await QemuUtils.IoAsync("qcow2", Path("a.qcow2"), "write -P 0x5a 1m 300k", "read -P 0x5a 1m 300k");
        await QemuUtils.ImgAsync("check", Path("a.qcow2"));
    }

    [QemuUtilsFact]
    public async Task CreatedRawIsASparseFileOfTheSize()
    {
        var result = await Image("create", "-f", "raw", Path("a.raw"), "1G");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(1L << 30, new FileInfo(Path("a.raw")).Length);
        Assert.Equal("raw", (await QemuInfo(Path("a.raw"))).GetProperty("format").GetString());
    }

    [QemuUtilsFact]
    public async Task CreateWithABackingFileTakesItsSizeAndQemuImgSeesTheChain()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "raw", Path("base.raw"), "10M");
        await QemuUtils.IoAsync("raw", Path("base.raw"), "write -P 0xab 0 1m", "write -P 0xcd 9m 4k");

        var result = await Image("create", "-b", "base.raw", Path("overlay.qcow2"));

        Assert.True(result.ExitCode == 0, result.ToString());
        var info = await QemuInfo(Path("overlay.qcow2"));
        Assert.Equal(10L << 20, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal("base.raw", info.GetProperty("backing-filename").GetString());
        Assert.Equal("raw", info.GetProperty("backing-filename-format").GetString());
        await QemuUtils.ImgAsync("check", Path("overlay.qcow2"));
        await QemuUtils.ImgAsync("compare", "-q", Path("base.raw"), Path("overlay.qcow2"));
    }

    [QemuUtilsFact]
    public async Task InfoJsonMatchesQemuImgOnABackingChain()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "raw", Path("base.raw"), "16M");
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", "-o", "cluster_size=8192", "-b", Path("base.raw"), "-F", "raw", Path("mid.qcow2"));
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "mid.qcow2", "-F", "qcow2", Path("top.qcow2"), "32M");
        await QemuUtils.IoAsync("qcow2", Path("top.qcow2"), "write -P 0x11 0 200k");

        foreach (var chain in new[] { true, false })
        {
            string[] flags = chain ? ["--backing-chain"] : [];
            var ours = await Image(["info", "--output", "json", .. flags, Path("top.qcow2")]);
            var theirs = await QemuUtils.ImgAsync(["info", "--output=json", .. flags, Path("top.qcow2")]);
            Assert.True(ours.ExitCode == 0, ours.ToString());
            using var oursJson = JsonDocument.Parse(ours.Stdout);
            using var theirsJson = JsonDocument.Parse(theirs);
            var oursLevels = chain ? [.. oursJson.RootElement.EnumerateArray()] : new[] { oursJson.RootElement };
            var theirsLevels = chain ? [.. theirsJson.RootElement.EnumerateArray()] : new[] { theirsJson.RootElement };
            Assert.Equal(chain ? 3 : 1, theirsLevels.Length);
            Assert.Equal(theirsLevels.Length, oursLevels.Length);
            for (var level = 0; level < theirsLevels.Length; level++)
            {
                foreach (var field in SharedInfoFields)
                {
                    var theirsHas = theirsLevels[level].TryGetProperty(field, out var expected);
                    var oursHas = oursLevels[level].TryGetProperty(field, out var actual);
                    Assert.True(theirsHas == oursHas, $"level {level}: field {field} only in one of:\n{ours.Stdout}\n{theirs}");
                    if (theirsHas)
                    {
                        Assert.True(expected.GetRawText() == actual.GetRawText(), $"level {level}, {field}: qemu-img {expected}, ours {actual}");
                    }
                }
            }
        }
    }

    [QemuUtilsFact]
    public async Task InfoTextNamesFormatSizesAndBacking()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", Path("base.qcow2"), "1G");
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Path("top.qcow2"));

        var result = await Image("info", Path("top.qcow2"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("file format: qcow2\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("virtual size: 1 GiB (1073741824 bytes)\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("cluster_size: 65536\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("backing file format: qcow2\n", result.Stdout, StringComparison.Ordinal);
    }

    [QemuUtilsFact]
    public async Task CheckAgreesWithQemuImgOnCleanLeakingAndCorruptImages()
    {
        foreach (var (name, patch, expected) in new (string, Action<string>?, int)[]
        {
            ("clean.qcow2", null, 0),
            ("leak.qcow2", path => SetRefcount(path, 0, 2), 3), // the header's cluster counted twice: space lost, nothing at risk
            ("corrupt.qcow2", path => SetRefcount(path, LastDataCluster(path), 0), 2), // a used cluster free for the taking
        })
        {
            var path = Path(name);
            await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", path, "4M");
            await QemuUtils.IoAsync("qcow2", path, "write -P 0xab 0 128k");
            patch?.Invoke(path);

            var ours = await Image("check", path);
            var theirs = await QemuUtils.RunAsync("qemu-img", "check", path);

            Assert.True(ours.ExitCode == expected, $"{name}: {ours}");
            Assert.True(theirs.ExitCode == expected, $"{name}: qemu-img {theirs}");
            Assert.Equal("", ours.Stderr);
        }
    }

    [Fact]
    public async Task CheckOfARawImageHasNothingToCheck()
    {
        await File.WriteAllBytesAsync(Path("a.raw"), new byte[4096]);

        var result = await Image("check", Path("a.raw"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("no metadata to check", result.Stdout, StringComparison.Ordinal);
    }

    [QemuUtilsFact]
    public async Task ConvertRawToQcow2AndBackIsByteIdenticalAndSparse()
    {
        // 1 MiB of data, 4 MiB of zeros, then 512 bytes of data: the zeros must not be written.
        var bytes = new byte[(5 << 20) + 512];
        new Random(42).NextBytes(bytes.AsSpan(0, 1 << 20));
        new Random(43).NextBytes(bytes.AsSpan(5 << 20));
        await File.WriteAllBytesAsync(Path("src.raw"), bytes);

        var toQcow2 = await Image("convert", "-O", "qcow2", Path("src.raw"), Path("mid.qcow2"));
        var toRaw = await Image("convert", "-f", "qcow2", "-O", "raw", Path("mid.qcow2"), Path("back.raw"));

        Assert.True(toQcow2.ExitCode == 0, toQcow2.ToString());
        Assert.True(toRaw.ExitCode == 0, toRaw.ToString());
        Assert.Equal("", toQcow2.Stderr); // no progress bar: stderr is not a terminal and --progress was not given
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path("back.raw")));
        await QemuUtils.ImgAsync("check", Path("mid.qcow2"));
        await QemuUtils.ImgAsync("compare", "-q", Path("src.raw"), Path("mid.qcow2"));
        await QemuUtils.ImgAsync("compare", "-q", Path("src.raw"), Path("back.raw"));
        Assert.True(new FileInfo(Path("mid.qcow2")).Length < 2L << 20, "the all-zero clusters were written");
    }

    [QemuUtilsFact]
    public async Task ConvertFlattensABackingChain()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", Path("base.qcow2"), "8M");
        await QemuUtils.IoAsync("qcow2", Path("base.qcow2"), "write -P 0xaa 0 2m", "write -P 0xbb 6m 1m");
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Path("top.qcow2"));
        await QemuUtils.IoAsync("qcow2", Path("top.qcow2"), "write -P 0xcc 1m 100k", "write -z 6m 64k");

        var result = await Image("convert", "-O", "qcow2", "--progress", Path("top.qcow2"), Path("flat.qcow2"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("\rconverting 100% [", result.Stderr, StringComparison.Ordinal);
        var info = await QemuInfo(Path("flat.qcow2"));
        Assert.False(info.TryGetProperty("backing-filename", out _), info.ToString());
        await QemuUtils.ImgAsync("check", Path("flat.qcow2"));
        await QemuUtils.ImgAsync("compare", "-q", Path("top.qcow2"), Path("flat.qcow2"));
        await QemuUtils.IoAsync("qcow2", Path("flat.qcow2"), "read -P 0xcc 1m 100k", "read -P 0 6m 64k", "read -P 0xbb 7274496 64k");
    }

    [QemuUtilsFact]
    public async Task ConvertOfASparseRawImageKeepsItsDataBetweenTheHoles()
    {
        // 64 GiB of holes around a few bytes: the holes are skipped (SEEK_DATA), the data lands where it was.
        using (var file = File.OpenHandle(Path("sparse.raw"), FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.SetLength(file, 64L << 30);
            RandomAccess.Write(file, new byte[] { 0x11, 0x22 }, 3L << 30);
            RandomAccess.Write(file, new byte[] { 0x33 }, (64L << 30) - 1);
        }

        var result = await Image("convert", "-O", "qcow2", Path("sparse.raw"), Path("sparse.qcow2"));

        Assert.True(result.ExitCode == 0, result.ToString());
        await QemuUtils.ImgAsync("check", Path("sparse.qcow2"));
        await QemuUtils.IoAsync("qcow2", Path("sparse.qcow2"), "read -P 0x11 3g 1", "read -P 0x22 3221225473 1", "read -P 0 1g 64k",
            "read -P 0x33 68719476735 1");
        Assert.True(new FileInfo(Path("sparse.qcow2")).Length < 4L << 20, "the holes were written");
    }

    [QemuUtilsFact]
    public async Task ConvertRefusesAnExistingDestination()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "raw", Path("src.raw"), "1M");
        await File.WriteAllTextAsync(Path("dst.raw"), "keep me");

        var result = await Image("convert", Path("src.raw"), Path("dst.raw"));

        CliAssert.OneLineError(result, 1, "already exists");
        Assert.Equal("keep me", await File.ReadAllTextAsync(Path("dst.raw")));
    }

    [QemuUtilsFact]
    public async Task ResizeGrowsAQcow2ImageQemuImgSeesTheSizeAndTheDataStays()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", Path("a.qcow2"), "64M");
        await QemuUtils.IoAsync("qcow2", Path("a.qcow2"), "write -P 0x77 0 1m", "write -P 0x78 63m 1m");

        var result = await Image("resize", Path("a.qcow2"), "2G");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(2L << 30, (await QemuInfo(Path("a.qcow2"))).GetProperty("virtual-size").GetInt64());
        await QemuUtils.ImgAsync("check", Path("a.qcow2"));
        await QemuUtils.IoAsync("qcow2", Path("a.qcow2"), "read -P 0x77 0 1m", "read -P 0x78 63m 1m", "read -P 0 64m 1m", "write -P 0x79 1536m 64k", "read -P 0x79 1536m 64k");
        await QemuUtils.ImgAsync("check", Path("a.qcow2"));
    }

    [QemuUtilsFact]
    public async Task ResizeOfARawImageGrowsAndShrinksOnlyWithShrink()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "raw", Path("a.raw"), "4M");
        await QemuUtils.IoAsync("raw", Path("a.raw"), "write -P 0x42 0 1m");

        var grow = await Image("resize", Path("a.raw"), "+1M");
        var refused = await Image("resize", Path("a.raw"), "2M");
        var shrink = await Image("resize", "--shrink", Path("a.raw"), "2M");

        Assert.True(grow.ExitCode == 0, grow.ToString());
        CliAssert.OneLineError(refused, 1, "--shrink");
        Assert.True(shrink.ExitCode == 0, shrink.ToString());
        Assert.Equal(2L << 20, new FileInfo(Path("a.raw")).Length);
        await QemuUtils.IoAsync("raw", Path("a.raw"), "read -P 0x42 0 1m");
    }

    [QemuUtilsFact]
    public async Task ResizeRefusesToShrinkAQcow2Image()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", Path("a.qcow2"), "64M");

        CliAssert.OneLineError(await Image("resize", "--shrink", Path("a.qcow2"), "32M"), 1, "shrinking a qcow2 image is not supported");
        Assert.Equal(64L << 20, (await QemuInfo(Path("a.qcow2"))).GetProperty("virtual-size").GetInt64());
    }

    [Theory]
    [InlineData(new[] { "image" }, "image needs a subcommand")]
    [InlineData(new[] { "image", "create" }, "needs the new image's file name")]
    [InlineData(new[] { "image", "convert", "a.raw" }, "needs a destination file")]
    [InlineData(new[] { "image", "resize", "a.raw" }, "needs the new SIZE")]
    [InlineData(new[] { "image", "create", "-f", "vmdk", "a.vmdk", "1G" }, "unknown image format")]
    [InlineData(new[] { "image", "convert", "-O", "vdi", "a.raw", "b.vdi" }, "unknown image format")]
    [InlineData(new[] { "image", "info", "--output", "xml", "a.raw" }, "use human or json")]
    [InlineData(new[] { "image", "create", "a.qcow2", "ten" }, "is not a size")]
    [InlineData(new[] { "image", "chek", "a.qcow2" }, "did you mean 'check'")]
    public async Task UsageErrorsExit2WithOneLine(string[] args, string fragment) =>
        CliAssert.OneLineError(await SharpvisorProcess.RunAsync(args), 2, fragment);

    [Theory]
    [InlineData("info")]
    [InlineData("check")]
    [InlineData("resize")]
    [InlineData("convert")]
    public async Task ANonexistentImageIsARuntimeError(string subcommand)
    {
        string[] args = subcommand switch
        {
            "resize" => ["image", subcommand, "/nonexistent/a.qcow2", "1G"],
            "convert" => ["image", subcommand, "/nonexistent/a.qcow2", Path("b.raw")],
            _ => ["image", subcommand, "/nonexistent/a.qcow2"],
        };

        CliAssert.OneLineError(await SharpvisorProcess.RunAsync(args), 1, "/nonexistent/a.qcow2: no such file");
    }

    [Fact]
    public async Task CreateRefusesToOverwrite()
    {
        await File.WriteAllTextAsync(Path("a.qcow2"), "keep me");

        CliAssert.OneLineError(await Image("create", Path("a.qcow2"), "1G"), 1, "already exists");
        Assert.Equal("keep me", await File.ReadAllTextAsync(Path("a.qcow2")));
    }

    [QemuUtilsFact]
    public async Task HostileImagesAreRuntimeErrorsWithOneLine()
    {
        await QemuUtils.ImgAsync("create", "-q", "-f", "qcow2", Path("good.qcow2"), "1G");
        var good = await File.ReadAllBytesAsync(Path("good.qcow2"));
        await File.WriteAllBytesAsync(Path("truncated.qcow2"), good[..50]);
        var badMagic = (byte[])good.Clone();
        badMagic[0] = 0x12;
        await File.WriteAllBytesAsync(Path("magic.qcow2"), badMagic);
        var hugeClusters = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(hugeClusters.AsSpan(20), 30);
        await File.WriteAllBytesAsync(Path("clusters.qcow2"), hugeClusters);

        foreach (var subcommand in new[] { "info", "check" })
        {
            CliAssert.OneLineError(await Image(subcommand, Path("truncated.qcow2")), 1, "truncated image");
            CliAssert.OneLineError(await Image(subcommand, "-f", "qcow2", Path("magic.qcow2")), 1, "bad magic");
            CliAssert.OneLineError(await Image(subcommand, Path("clusters.qcow2")), 1, "cluster_bits 30");
        }

        CliAssert.OneLineError(await Image("convert", Path("truncated.qcow2"), Path("out.raw")), 1, "truncated image");
        Assert.False(File.Exists(Path("out.raw")));
        CliAssert.OneLineError(await Image("resize", Path("clusters.qcow2"), "2G"), 1, "cluster_bits 30");
    }

    private string Path(string name) => System.IO.Path.Combine(_dir, name);

    private static Task<ProcessResult> Image(params string[] args) => SharpvisorProcess.RunAsync(["image", .. args]);

    private static async Task<JsonElement> QemuInfo(string path)
    {
        using var json = JsonDocument.Parse(await QemuUtils.ImgAsync("info", "--output=json", path));
        return json.RootElement.Clone();
    }
}
