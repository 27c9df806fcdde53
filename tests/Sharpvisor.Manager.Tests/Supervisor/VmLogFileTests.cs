using System.Diagnostics;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests.Supervisor;

/// <summary>A VMM log under its cap while the VMM keeps appending to it through its own descriptor.</summary>
public sealed class VmLogFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes each line it is sent into the log through one O_APPEND descriptor, as the VMM's stderr is.</summary>
    private sealed class AppendingWriter : IDisposable
    {
        private readonly Process _shell;

        public AppendingWriter(string path)
        {
            var start = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec >>\"$0\"; while IFS= read -r line; do printf '%s\\n' \"$line\"; [ \"$line\" = sync ] && : > \"$0.synced\"; done");
            start.ArgumentList.Add(path);
            _shell = Process.Start(start)!;
            Path = path;
        }

        private string Path { get; }

        /// <summary>Sends the lines and waits until the shell has written them.</summary>
        public void Write(IEnumerable<string> lines)
        {
            var marker = Path + ".synced";
            File.Delete(marker);
            foreach (var line in lines)
            {
                _shell.StandardInput.WriteLine(line);
            }

            _shell.StandardInput.WriteLine("sync");
            _shell.StandardInput.Flush();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!File.Exists(marker))
            {
                Assert.True(DateTime.UtcNow < until, "the shell never wrote its lines");
                Thread.Sleep(5);
            }
        }

        public void Dispose()
        {
            _shell.StandardInput.Close();
            _shell.WaitForExit(60_000);
            _shell.Dispose();
        }
    }

    [Fact]
    public void ALogOverItsCapMovesToTheOlderGenerationAndTheWriterGoesOnFromTheStart()
    {
        var path = System.IO.Path.Combine(_dir, "vm.log");
        using var vmm = new AppendingWriter(path);
        vmm.Write(Enumerable.Repeat("sharpvisor: virtio-net: transmitted frame of 3 bytes is outside 14-65536; dropped", 1000));
        var before = new FileInfo(path).Length;
        Assert.True(before > 64 * 1024);

        Assert.False(VmLogFile.TrimIfOver(path, 1 << 20)); // under the cap: left alone
        Assert.True(VmLogFile.TrimIfOver(path, 64 * 1024));

        Assert.Equal(0, new FileInfo(path).Length);
        Assert.Equal(before, new FileInfo(VmLogFile.OlderGeneration(path)).Length);
        vmm.Write(["after the rotation"]);
        Assert.Equal("after the rotation\nsync\n", File.ReadAllText(path)); // appended at the new end, no hole before it
    }

    [Fact]
    public void AMissingLogIsNothingToRotate()
    {
        Assert.False(VmLogFile.TrimIfOver(Path.Combine(_dir, "none.log"), 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => VmLogFile.TrimIfOver(Path.Combine(_dir, "none.log"), 0));
    }
}
