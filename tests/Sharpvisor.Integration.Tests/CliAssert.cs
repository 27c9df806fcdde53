namespace Sharpvisor.Integration.Tests;

/// <summary>What every test of the CLI's bad input checks the same way.</summary>
internal static class CliAssert
{
    /// <summary>
    /// The documented failure: <paramref name="exitCode"/> (2 usage, 1 runtime), exactly one line on stderr starting
    /// "sharpvisor: error:" and naming <paramref name="fragment"/>, and never a stack trace.
    /// </summary>
    public static void OneLineError(ProcessResult result, int exitCode, string fragment)
    {
        Assert.True(result.ExitCode == exitCode, result.ToString());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected exactly one line on stderr:\n" + result);
        Assert.StartsWith("sharpvisor: error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(fragment, lines[0], StringComparison.Ordinal);
        // A stack trace has frames ("   at Namespace.Type.Method") and exception type names.
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
    }
}
