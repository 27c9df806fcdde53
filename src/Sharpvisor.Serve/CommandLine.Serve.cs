namespace Sharpvisor.Cli;

internal static partial class CommandLine
{
    /// <summary>The daemon's bad input is a <see cref="UsageException"/> already; it links no VMM exceptions.</summary>
    private static partial bool IsConfigurationError(Exception e) => false;
}
