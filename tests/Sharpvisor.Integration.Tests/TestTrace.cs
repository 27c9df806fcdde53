namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Steps of a long test as they happen, appended to the file SHARPVISOR_TEST_TRACE names (nothing when unset).
/// A test killed for hanging leaves no output of its own; this file still says which step it was in, e.g. from a
/// nested KVM host, whose checkout is this one.
/// </summary>
internal static class TestTrace
{
    private static readonly string? Path = Environment.GetEnvironmentVariable("SHARPVISOR_TEST_TRACE");
    private static readonly Lock Gate = new();

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
