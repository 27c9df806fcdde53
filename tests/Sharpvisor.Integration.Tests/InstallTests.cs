using System.Diagnostics;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The README's install command, run for real into a temporary prefix: progress lines while it builds, links in
/// bin, completion, and an installed <c>sharpvisor</c> that finds its <c>sharpvisor-serve</c> through the link.
/// Framework-dependent, which every SDK builds; the NativeAOT path differs only in the publish flags.
/// </summary>
[Trait("Category", "Slow")]
public sealed class InstallTests : IDisposable
{
    private readonly string _prefix = Directory.CreateTempSubdirectory("sv-prefix-").FullName;

    public void Dispose() => Directory.Delete(_prefix, recursive: true);

    [Fact]
    public async Task InstallsIntoAPrefixSayingWhatItDoesAndTheInstalledCommandsWork()
    {
        var script = Path.Combine(TestBinaries.RepositoryRoot, "tools", "install");
        var install = await ProcessRunner.RunAsync(script, ["--prefix", _prefix, "--framework-dependent"], timeout: TestTime.Ceiling(TimeSpan.FromMinutes(15)));

        Assert.True(install.ExitCode == 0, install.ToString());
        var lines = Lines(install.Stdout);
        Assert.Matches(@"^install: \[ *\d+ s\] building sharpvisor \(framework-dependent\)$", lines[0]);
        Assert.Contains(lines, line => line.Contains("building sharpvisor-serve", StringComparison.Ordinal));
        Assert.Matches(@"^install: \[ *\d+ s\] done: sharpvisor \d+\.\d+\.\d+ \(framework-dependent\)$", Assert.Single(lines, line => line.Contains("] done: ", StringComparison.Ordinal)));
        var sharpvisor = Path.Combine(_prefix, "bin", "sharpvisor");
        Assert.Equal(Path.Combine(_prefix, "lib", "sharpvisor", "sharpvisor"), new FileInfo(sharpvisor).LinkTarget);
        Assert.Contains($"  {sharpvisor} -> ", install.Stdout, StringComparison.Ordinal);
        Assert.Contains("complete -o filenames -F _sharpvisor sharpvisor",
            await File.ReadAllTextAsync(Path.Combine(_prefix, "share", "bash-completion", "completions", "sharpvisor")), StringComparison.Ordinal);

        var version = await ProcessRunner.RunAsync(sharpvisor, ["--version"]);
        Assert.Matches(@"^sharpvisor \d+\.\d+\.\d+\n$", version.Stdout);

        // Through the link, serve becomes the sharpvisor-serve beside the real file, and listens.
        var data = Path.Combine(_prefix, "data");
        using var serve = Process.Start(new ProcessStartInfo(sharpvisor, ["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60));
            string? line;
            do
            {
                var read = serve.StandardOutput.ReadLineAsync();
                Assert.True(await Task.WhenAny(read, Task.Delay(deadline - DateTime.UtcNow)) == read, "the installed serve printed no web UI line within 60 s");
                line = await read;
                Assert.NotNull(line);
            }
            while (!line.StartsWith("sharpvisor: web UI at http://127.0.0.1:", StringComparison.Ordinal));
        }
        finally
        {
            serve.Kill();
            await serve.WaitForExitAsync();
        }

        // A second install replaces the first in place.
        var again = await ProcessRunner.RunAsync(script, ["--prefix", _prefix, "--framework-dependent"], timeout: TestTime.Ceiling(TimeSpan.FromMinutes(15)));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.False(Directory.Exists(Path.Combine(_prefix, "lib", "sharpvisor.old")));
        Assert.Equal(0, (await ProcessRunner.RunAsync(sharpvisor, ["help"])).ExitCode);
    }

    [Fact]
    public async Task AnUnknownOptionIsAUsageError()
    {
        var result = await ProcessRunner.RunAsync(Path.Combine(TestBinaries.RepositoryRoot, "tools", "install"), ["--prefx", _prefix]);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("tools/install: unknown option '--prefx'", result.Stderr, StringComparison.Ordinal);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
