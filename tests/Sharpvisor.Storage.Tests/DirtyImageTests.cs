using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>An image a writer with lazy refcounts left dirty (qemu-io aborted): readable, and repaired when opened writable.</summary>
public sealed class DirtyImageTests
{
    private static readonly string[] Commands = ["write -P 0xab 0 64k", "write -P 0xcd 1m 8k"];

    [QemuFact]
    public void DirtyImageIsRepairedOnWritableOpen()
    {
        using var dir = new TempDirectory();
        Qemu.Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=4k", dir["d.qcow2"], "4M");
        Qemu.Run("qemu-io", ["-f", "qcow2", "-c", Commands[0], "-c", Commands[1], "-c", "flush", "-c", "abort", dir["d.qcow2"]]);
        Assert.Equal(2, Qemu.Check(dir["d.qcow2"]).ExitCode); // refcounts lag behind the L2 entries: qemu calls it corruption
        File.WriteAllBytes(dir["ref.raw"], new byte[4 << 20]);
        Qemu.Io("raw", dir["ref.raw"], Commands);

        using (var readOnly = Qcow2Image.Open(dir["d.qcow2"], readOnly: true))
        {
            ImageAssert.SameAsRaw(readOnly, dir["ref.raw"]);
        }

        using (var image = Qcow2Image.Open(dir["d.qcow2"], readOnly: false))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            var workload = new Workload(new Random(8), 4096);
            for (var i = 0; i < 60; i++)
            {
                workload.Step(image, raw);
            }
        }

        Qemu.AssertClean(dir["d.qcow2"]);
        Assert.DoesNotContain("cleanly shut down: no", Qemu.Img("info", dir["d.qcow2"]), StringComparison.Ordinal);
        using var reopened = Qcow2Image.Open(dir["d.qcow2"], readOnly: true);
        ImageAssert.SameAsRaw(reopened, dir["ref.raw"]);
    }
}
