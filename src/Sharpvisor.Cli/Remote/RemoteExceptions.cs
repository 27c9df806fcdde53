namespace Sharpvisor.Cli.Remote;

/// <summary>The daemon answered with an error: one line per problem (the detail, or each invalid field).</summary>
internal sealed class ApiException(int status, IReadOnlyList<string> problems)
    : Exception(string.Join("; ", problems))
{
    public int Status { get; } = status;

    public IReadOnlyList<string> Problems { get; } = problems;

    /// <summary>A 400 means the request was wrong, which the user wrote: a usage error. Anything else is runtime.</summary>
    public int ExitCode => Status == 400 ? ExitCodes.Usage : ExitCodes.RuntimeError;

    /// <summary>The same answer with each line rewritten (into the command's own flags, say).</summary>
    public ApiException Rewritten(Func<string, string> rewrite) => new(Status, [.. Problems.Select(rewrite)]);
}

/// <summary>No daemon to talk to: no address, or nothing listening there. Exit code 1.</summary>
internal sealed class DaemonUnreachableException(string message) : Exception(message);
