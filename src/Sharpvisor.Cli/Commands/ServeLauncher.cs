using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor serve</c>: becomes <c>sharpvisor-serve</c> (the manager daemon, docs/api.md), found beside this
/// executable, with the same pid and arguments. The daemon is its own executable so that this one, which every VMM
/// runs, links no web stack and keeps its start-up time and memory (bench/startup.sh).
/// </summary>
internal static class ServeLauncher
{
    public const string DaemonExecutable = "sharpvisor-serve";

    public static int Execute(string[] args)
    {
        // Answered here: help needs no daemon, and the daemon's executable may be missing.
        if (args.Any(arg => arg is "--help" or "-h"))
        {
            throw new HelpRequestedException();
        }

        var path = Path.Combine(AppContext.BaseDirectory, DaemonExecutable);
        if (!File.Exists(path))
        {
            throw new IOException($"{path} is missing: build or publish src/Sharpvisor.Serve beside sharpvisor");
        }

        ProcessImage.Replace(path, args);
        return ExitCodes.RuntimeError; // not reached: Replace returns only by throwing
    }
}
