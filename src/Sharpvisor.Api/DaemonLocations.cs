namespace Sharpvisor.Api;

/// <summary>Where a client finds the daemon on this host: its data directory and the file it announces itself in.</summary>
public static class DaemonLocations
{
    /// <summary>The daemon's address, pid and certificate fingerprint (<see cref="ServeInfo"/>), in its data directory.</summary>
    public const string ServeInfoFileName = "serve.json";

    /// <summary>The API token a local client sends, in the data directory (mode 0600).</summary>
    public const string TokenFileName = "token";

    /// <summary>
    /// The data directory when none is given: <c>$SHARPVISOR_DATA_DIR</c>, else <c>$XDG_DATA_HOME/sharpvisor</c>,
    /// else <c>~/.local/share/sharpvisor</c>.
    /// </summary>
    public static string DefaultDataDirectory()
    {
        if (Environment.GetEnvironmentVariable("SHARPVISOR_DATA_DIR") is { Length: > 0 } explicitDir)
        {
            return explicitDir;
        }

        if (Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg)
        {
            return Path.Combine(xdg, "sharpvisor");
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "sharpvisor");
    }
}
