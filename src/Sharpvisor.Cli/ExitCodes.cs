namespace Sharpvisor.Cli;

/// <summary>Process exit codes of the CLI itself (a guest's own status passes through unchanged).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int RuntimeError = 1;
    public const int Usage = 2;
}
