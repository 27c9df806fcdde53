using Sharpvisor.Storage.Qcow2;
using static Sharpvisor.Tests.Shared.Qcow2Bytes;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// The members the image tools (sharpvisor image info, check, resize) use: the header's description, the read-only
/// metadata check (agreeing with qemu-img check), and growing in place (qemu-img seeing the new size and the old data).
/// </summary>
public sealed class ImageToolSupportTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [QemuFact]
    public void ReadInfoDescribesTheHeaderWithoutOpeningTheBacking()
    {
        Qemu.Img("create", "-q", "-f", "raw", _dir["base.raw"], "1M");
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", _dir["top.qcow2"], "2M");
        File.Delete(_dir["base.raw"]);

        var info = Qcow2Image.ReadInfo(_dir["top.qcow2"]);

        Assert.Equal(new Qcow2Info(3, 2UL << 20, 4096, 16, "base.raw", "raw", IsDirty: false, IsCorrupt: false, SnapshotCount: 0), info);
    }

    [QemuFact]
    public void CheckFindsAQemuMadeImageClean()
    {
        var path = Written();

        var result = Qcow2Image.Check(path);

        Assert.True(result.IsClean, string.Join('\n', result.Problems));
        Assert.Equal(2, result.AllocatedClusters);
        Assert.Equal(64, result.GuestClusters);
    }

    [QemuFact]
    public void CheckCountsARaisedRefcountAsALeakAsQemuDoes()
    {
        var path = Written();
        SetRefcount(path, 0, 2); // the header's cluster

        var result = Qcow2Image.Check(path);

        Assert.Equal((1L, 0L), (result.Leaks, result.Corruptions));
        Assert.Equal(3, Qemu.Check(path).ExitCode);
    }

    [QemuFact]
    public void CheckCountsAZeroedRefcountOfADataClusterAsCorruptionAsQemuDoes()
    {
        var path = Written();
        SetRefcount(path, LastDataCluster(path), 0);

        var result = Qcow2Image.Check(path);

        Assert.Equal(0, result.Leaks);
        Assert.Equal(2, result.Corruptions); // the refcount, and the copied flag that no longer matches it
        Assert.Equal(2, Qemu.Check(path).ExitCode);
    }

    [QemuFact]
    public void CheckReportsAnL2EntryPastTheEndOfTheFile()
    {
        var path = Written();
        Patch(path, L2Offset(path) + 8, (1UL << 63) | (1UL << 40));

        var result = Qcow2Image.Check(path);

        Assert.True(result.Corruptions > 0);
        Assert.Contains(result.Problems, line => line.Contains("past the end of the file", StringComparison.Ordinal));
    }

    [QemuFact]
    public void CheckReportsAnL2TableUsedTwiceAsQemuDoes()
    {
        var path = _dir["big.qcow2"];
        Qemu.Img("create", "-q", "-f", "qcow2", path, "1G"); // two L1 entries
        Qemu.Io("qcow2", path, "write -P 0xab 0 64k");
        var l1 = L1Offset(path);
        Patch(path, l1 + 8, ReadU64(path, l1));

        var result = Qcow2Image.Check(path);

        Assert.True(result.Corruptions > 0, string.Join('\n', result.Problems));
        Assert.Equal(2, Qemu.Check(path).ExitCode);
    }

    [QemuFact]
    public void CheckRefusesAnImageWithInternalSnapshots()
    {
        var path = Written();
        Qemu.Img("snapshot", "-c", "before", path);

        var refused = Assert.Throws<NotSupportedException>(() => Qcow2Image.Check(path));

        Assert.Contains("internal snapshots", refused.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public void GrowKeepsTheDataAndQemuSeesTheNewSize()
    {
        var path = Written();

        Qcow2Image.Grow(path, 3UL << 30); // 6 L1 entries instead of 1: still inside the L1's cluster

        Qemu.AssertClean(path);
        Assert.Contains("\"virtual-size\": 3221225472", Qemu.Img("info", "--output=json", path), StringComparison.Ordinal);
        Qemu.Io("qcow2", path, "read -P 0xab 0 128k", "read -P 0 128k 64k", "write -P 0xcd 3221159936 64k", "read -P 0xcd 3221159936 64k");
        Qemu.AssertClean(path);
    }

    [QemuFact]
    public void GrowRefusesToMoveTheL1TableAndToShrink()
    {
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", _dir["small.qcow2"], "1M");

        var move = Assert.Throws<NotSupportedException>(() => Qcow2Image.Grow(_dir["small.qcow2"], 1UL << 30));
        var shrink = Assert.Throws<NotSupportedException>(() => Qcow2Image.Grow(_dir["small.qcow2"], 512 << 10));

        Assert.Contains("moving the L1 table is not supported", move.Message, StringComparison.Ordinal);
        Assert.Contains("shrinking", shrink.Message, StringComparison.Ordinal);
        Assert.Equal(1UL << 20, Qcow2Image.ReadInfo(_dir["small.qcow2"]).VirtualSize);
    }

    /// <summary>A 4 MiB image with 128 KiB of data: two data clusters.</summary>
    private string Written()
    {
        var path = _dir["a.qcow2"];
        Qemu.Img("create", "-q", "-f", "qcow2", path, "4M");
        Qemu.Io("qcow2", path, "write -P 0xab 0 128k");
        return path;
    }
}
