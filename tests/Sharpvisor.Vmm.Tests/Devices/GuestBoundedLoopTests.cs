using System.Text.RegularExpressions;
using Sharpvisor.Vmm.Devices;

namespace Sharpvisor.Vmm.Tests.Devices;

/// <summary>
/// Keeps a class of bug out of the device code: a loop that steps a 32-bit counter (uint, int, or var from an
/// int literal) by a chunk towards a bound. Where the bound comes from the guest (a chain of up to 4 GiB), the
/// counter wraps before it reaches the bound and the loop never ends; two such loops hung the VMM. Device loops
/// step a 64-bit counter (ulong, long, or a 0L/0UL literal) instead.
/// </summary>
public sealed partial class GuestBoundedLoopTests
{
    [GeneratedRegex(@"for\s*\(\s*(?<type>uint|int|ushort|short|byte|var)\s+(?<name>\w+)\s*=\s*(?<init>[^;]+);[^;]*;\s*\k<name>\s*\+=")]
    private static partial Regex SteppingLoop();

    private static string DevicesSource()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sharpvisor.slnx")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        return Path.Combine(dir.FullName, "src", "Sharpvisor.Vmm", "Devices");
    }

    [Fact]
    public void NoDeviceLoopStepsA32BitCounter()
    {
        var offenders = new List<string>();
        var files = Directory.GetFiles(DevicesSource(), "*.cs", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith(nameof(GuestErrorLog) + ".cs", StringComparison.Ordinal)); // the right tree
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var match = SteppingLoop().Match(lines[i]);
                if (!match.Success)
                {
                    continue;
                }

                var init = match.Groups["init"].Value.Trim();
                var wide = match.Groups["type"].Value == "var" && (init.EndsWith('L') || init.EndsWith("UL", StringComparison.Ordinal));
                if (!wide)
                {
                    offenders.Add($"{Path.GetFileName(file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offenders.Count == 0, "loops stepping a 32-bit counter (use ulong):\n" + string.Join('\n', offenders));
    }

    [Theory]
    [InlineData("for (uint offset = 0; offset < chain.ReadableLength; offset += MaxChunk)", true)]
    [InlineData("for (var done = 0; done < take; done += MaxPiece)", true)]
    [InlineData("for (ulong offset = 0; offset < chain.ReadableLength; offset += MaxChunk)", false)]
    [InlineData("for (var done = 0L; done < length; done += zeros.Length)", false)]
    [InlineData("for (var i = 0; i < count; i++)", false)]
    public void ThePatternFindsWhatItShould(string line, bool flagged)
    {
        var match = SteppingLoop().Match(line);
        var wide = match.Success && match.Groups["type"].Value == "var" && match.Groups["init"].Value.Trim().EndsWith('L');
        Assert.Equal(flagged, match.Success && !wide);
    }
}
