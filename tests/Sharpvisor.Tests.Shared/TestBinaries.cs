namespace Sharpvisor.Tests.Shared;

/// <summary>The executables the tests run as separate processes.</summary>
public static class TestBinaries
{
    /// <summary>
    /// A directory holding a published <c>sharpvisor</c> and <c>sharpvisor-serve</c> (NativeAOT) for the tests to run
    /// instead of the ones built beside them. tools/nested-kvm/test sets it: under software emulation every start of a
    /// JIT-compiled VMM costs seconds.
    /// </summary>
    public const string DirectoryVariable = "SHARPVISOR_TEST_BIN_DIR";

    /// <summary>The <c>sharpvisor</c> executable: from <see cref="DirectoryVariable"/>, else the one built into the test output.</summary>
    public static string Sharpvisor { get; } = Path.Combine(
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } directory ? directory : AppContext.BaseDirectory,
        "sharpvisor");

    /// <summary>The checkout the tests were built from: the directory above the test output holding Sharpvisor.slnx.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sharpvisor.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (Sharpvisor.slnx) above " + AppContext.BaseDirectory);
    }
}
