namespace Sharpvisor.Cli;

/// <summary>The test guest ELF, built from guests/testguest by the build and embedded in the executable.</summary>
internal static class BuiltInGuest
{
    public const string ResourceName = "testguest.elf";
    public const string DefaultScenario = "hello";

    public static byte[] Load()
    {
        using var stream = typeof(BuiltInGuest).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException("the built-in test guest is missing from this build");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
