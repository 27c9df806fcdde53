using Microsoft.Win32.SafeHandles;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// A writer killed at any point leaves an image qemu-img check finds clean or with leaked clusters only (exit 0 or
/// 3), never corrupt (2). The kill is simulated by copying the file right after one of its writes, which is what the
/// page cache would hold had the process died there (this does not model a power loss, which drops unsynced writes).
/// </summary>
public sealed class CrashTests
{
    [QemuTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void KilledWriterLeavesNoCorruption(bool withBacking)
    {
        using var dir = new TempDirectory();
        const long size = 1 << 20; // 256 clusters: the workload keeps hitting allocated ones, so clusters get freed
        string? backing = null;
        if (withBacking)
        {
            var data = new byte[size / 2];
            new Random(3).NextBytes(data);
            File.WriteAllBytes(dir["base.raw"], data);
            backing = "base.raw";
        }

        // A first run counts the writes; the second, identical (same seeds), copies the file after 30 of them
        // chosen at random, so that the kills fall all along the run, commits included.
        var total = Run(dir, size, backing, _ => { });
        var picks = new HashSet<int>();
        var random = new Random(withBacking ? 17 : 19);
        while (picks.Count < Math.Min(30, total))
        {
            picks.Add(random.Next(total));
        }

        var crashes = new List<string>();
        var writes = 0;
        Run(dir, size, backing, file =>
        {
            if (picks.Contains(writes++))
            {
                var copy = dir[$"crash{crashes.Count}.qcow2"];
                Snapshot(file, copy);
                crashes.Add(copy);
            }
        });

        Assert.NotEmpty(crashes);
        foreach (var crash in crashes)
        {
            var (code, output) = Qemu.Check(crash);
            Assert.True(code is 0 or 3, $"qemu-img check of a crash after a write exited {code}: {output}");
            using var reopened = Qcow2Image.Open(crash, readOnly: true);
            var buffer = new byte[1 << 20];
            for (var offset = 0L; offset < size; offset += buffer.Length)
            {
                reopened.Read(offset, buffer);
            }
        }
    }

    /// <summary>Creates the image afresh and runs the same seeded workload on it; returns how many writes it made.</summary>
    private static int Run(TempDirectory dir, long size, string? backing, Action<SafeFileHandle> afterWrite)
    {
        File.Delete(dir["c.qcow2"]);
        Qcow2Image.Create(dir["c.qcow2"], (ulong)size, clusterBits: 12, backing);
        File.WriteAllBytes(dir["ref.raw"], new byte[size]);
        var writes = 0;
        using (var image = Qcow2Image.Open(dir["c.qcow2"], readOnly: false, new Qcow2CacheOptions(1, 1)))
        using (var raw = RawImage.Open(dir["ref.raw"], readOnly: false))
        {
            image.AfterWrite = file =>
            {
                writes++;
                afterWrite(file);
            };
            var workload = new Workload(new Random(backing is null ? 29 : 23), 4096);
            for (var i = 0; i < 200; i++)
            {
                workload.Step(image, raw);
                if (i % 40 == 39)
                {
                    image.Flush();
                }
            }
        }

        return writes;
    }

    private static void Snapshot(SafeFileHandle file, string path)
    {
        var length = RandomAccess.GetLength(file);
        var bytes = new byte[length];
        var done = 0;
        while (done < length)
        {
            var read = RandomAccess.Read(file, bytes.AsSpan(done), done);
            if (read == 0)
            {
                break;
            }

            done += read;
        }

        File.WriteAllBytes(path, bytes);
    }
}
