namespace Sharpvisor.Tests.Shared;

/// <summary>
/// Steps of a long test as they happen, appended to the file SHARPVISOR_TEST_TRACE names (nothing when unset).
/// A test killed for hanging leaves no output of its own; this file still says which step it was in, e.g. from a
/// nested KVM host, whose checkout is this one.
/// </summary>
public static class TestTrace
{
    private static readonly string? Path = Environment.GetEnvironmentVariable("SHARPVISOR_TEST_TRACE");
    private static readonly Lock Gate = new();

    /// <summary>Appends <paramref name="what"/>, with the time, to the trace file (when one is named).</summary>
    public static void Step(string what)
    {
        if (string.IsNullOrEmpty(Path))
        {
            return;
        }

        lock (Gate)
        {
            File.AppendAllText(Path, $"{DateTime.UtcNow:HH:mm:ss.fff} {what}\n");
        }
    }
}
