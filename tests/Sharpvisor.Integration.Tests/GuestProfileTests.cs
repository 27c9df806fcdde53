using System.Text.RegularExpressions;
using Sharpvisor.Cli;
using Sharpvisor.Cli.Commands;

namespace Sharpvisor.Integration.Tests;

/// <summary>The hidden `run --profile-guest FILE[,interval-ms]` diagnostic: guest RIP samples in a file.</summary>
public sealed partial class GuestProfileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sv-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [GeneratedRegex(@"^\d+ \d+ [0-9a-f]+$")]
    private static partial Regex SampleLine();

    [KvmFact]
    public async Task SamplesTheGuestRipWhileItRuns()
    {
        var file = Path.Combine(_dir, "samples.txt");
        // The idle guest runs until stopped: stop it once samples reached the file (the profiler flushes every second).
        var result = await SharpvisorProcess.RunUntilAsync(
            ["run", "--cmdline", "idle", "--profile-guest", $"{file},1"],
            stdout => stdout.Contains("idle: ready", StringComparison.Ordinal) && SampleCount(file) > 0,
            TestTime.Ceiling(TimeSpan.FromMinutes(1)));

        Assert.Contains("idle: ready", result.Stdout, StringComparison.Ordinal);
        var lines = File.ReadAllLines(file);
        Assert.StartsWith("# sharpvisor guest RIP samples", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"CLOCK_MONOTONIC \d+ ns; interval 1 ms", lines[0]);
        var samples = lines.Skip(1).ToArray();
        Assert.NotEmpty(samples);
        Assert.All(samples, line => Assert.Matches(SampleLine(), line));
        // The test guest is a PVH ELF linked at 1 MiB: its code runs from there, in RAM.
        Assert.Contains(samples, line => line.Split(' ') is [_, "0", var rip] && Convert.ToUInt64(rip, 16) is >= 0x10_0000 and < 0x800_0000);
    }

    /// <summary>Sample lines in the file so far (none while it does not exist).</summary>
    private static int SampleCount(string file)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Split('\n').Count(line => SampleLine().IsMatch(line));
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }

    [Theory]
    [InlineData("x.txt,0")]
    [InlineData("x.txt,-5")]
    [InlineData("x.txt,fast")]
    [InlineData(",10")]
    public void BadProfileArgumentsAreUsageErrors(string value)
    {
        var e = Assert.Throws<UsageException>(() => RunCommand.OpenProfile(Path.Combine(_dir, value), out _));
        Assert.Contains("--profile-guest", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IntervalDefaultsToTenMilliseconds()
    {
        using var stream = RunCommand.OpenProfile(Path.Combine(_dir, "p.txt"), out var interval);
        Assert.Equal(TimeSpan.FromMilliseconds(10), interval);
        stream.Dispose();
        using var again = RunCommand.OpenProfile(Path.Combine(_dir, "p.txt") + ",2.5", out interval);
        Assert.Equal(TimeSpan.FromMilliseconds(2.5), interval);
    }
}
