using Microsoft.Win32.SafeHandles;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// What a launcher needs to open a chain for a confined VMM: the backing files an image names, by the path an open
/// uses, and an open that takes them from the launcher's descriptors instead of by path.
/// </summary>
public sealed class BackingFilesTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>base.raw (bytes of 0x11) under mid.qcow2 (one cluster of 0x22 at 64 KiB) under top.qcow2.</summary>
    private void MakeChain()
    {
        File.WriteAllBytes(_dir["base.raw"], Enumerable.Repeat((byte)0x11, 1 << 20).ToArray());
        Qcow2Image.Create(_dir["mid.qcow2"], 1 << 20, backingFile: "base.raw", backingFormat: "raw");
        using (var mid = Qcow2Image.Open(_dir["mid.qcow2"], readOnly: false))
        {
            mid.Write(65536, Enumerable.Repeat((byte)0x22, 65536).ToArray());
        }

        Qcow2Image.Create(_dir["top.qcow2"], 1 << 20, backingFile: _dir["mid.qcow2"], backingFormat: "qcow2");
    }

    [Fact]
    public void TheChainIsListedNearestFirstWithEachFormat()
    {
        MakeChain();
        Assert.Equal([(_dir["mid.qcow2"], DiskFormat.Qcow2), (_dir["base.raw"], DiskFormat.Raw)], Qcow2Image.BackingFiles(_dir["top.qcow2"]));
        Qcow2Image.Create(_dir["solo.qcow2"], 1 << 20);
        Assert.Empty(Qcow2Image.BackingFiles(_dir["solo.qcow2"]));
    }

    [Fact]
    public void AnOpenTakesEachBackingFileFromTheOpenerNotByPath()
    {
        MakeChain();
        // Opened first, then gone from the directory: only the handed-over descriptors can still reach the data.
        var handed = Qcow2Image.BackingFiles(_dir["top.qcow2"])
            .ToDictionary(b => b.Path, b => File.OpenHandle(b.Path, FileMode.Open, FileAccess.Read, FileShare.Read));
        File.Delete(_dir["mid.qcow2"]);
        File.Delete(_dir["base.raw"]);
        var asked = new List<string>();
        SafeFileHandle? Opener(string path)
        {
            asked.Add(path);
            return handed.Remove(path, out var handle) ? handle : null;
        }

        using var top = Qcow2Image.Open(File.OpenHandle(_dir["top.qcow2"], FileMode.Open, FileAccess.Read), _dir["top.qcow2"], readOnly: true, openBacking: Opener);
        var data = new byte[1 << 20];
        top.Read(0, data);
        Assert.All(data.AsSpan(0, 65536).ToArray(), b => Assert.Equal(0x11, b));
        Assert.All(data.AsSpan(65536, 65536).ToArray(), b => Assert.Equal(0x22, b));
        Assert.All(data.AsSpan(131072).ToArray(), b => Assert.Equal(0x11, b));
        Assert.Equal([_dir["mid.qcow2"], _dir["base.raw"]], asked);
    }

    [Fact]
    public void ABackingFileTheOpenerDoesNotHaveAndThatIsMissingIsNamed()
    {
        MakeChain();
        File.Delete(_dir["base.raw"]);
        var e = Assert.Throws<FileNotFoundException>(() => Qcow2Image.Open(
            File.OpenHandle(_dir["mid.qcow2"], FileMode.Open, FileAccess.Read), _dir["mid.qcow2"], readOnly: true, openBacking: _ => null));
        Assert.Contains($"backing file {_dir["base.raw"]} of {_dir["mid.qcow2"]} does not exist", e.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => Qcow2Image.BackingFiles(_dir["top.qcow2"]));
    }

    [Fact]
    public void ALoopIsRefusedByTheListingAsByAnOpen()
    {
        Qcow2Image.Create(_dir["a.qcow2"], 1 << 20, backingFile: "b.qcow2", backingFormat: "qcow2");
        Qcow2Image.Create(_dir["b.qcow2"], 1 << 20, backingFile: "a.qcow2", backingFormat: "qcow2");
        Assert.Contains("loops", Assert.Throws<Qcow2FormatException>(() => Qcow2Image.BackingFiles(_dir["a.qcow2"])).Message, StringComparison.Ordinal);
    }
}
