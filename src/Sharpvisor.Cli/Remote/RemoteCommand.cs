namespace Sharpvisor.Cli.Remote;

/// <summary>
/// What every command that talks to the daemon shares: the connection flags (<c>--server</c>, <c>--token</c>,
/// <c>--data-dir</c>), <c>--json</c>, and the translation of API errors into lines on stderr and exit codes
/// (400: 2, the rest: 1; see DEVELOPERS.md, "Exit codes").
/// </summary>
internal static class RemoteCommand
{
    public const string JsonFlag = "--json";

    internal static readonly string[] ConnectionOptions = ["--server", "--token", "--data-dir"];

    /// <summary>Reads <paramref name="args"/> with the connection options and <c>--json</c> added to the command's own.</summary>
    public static ArgumentReader Read(string[] args, IEnumerable<string> valueOptions, IEnumerable<string> flagOptions, int positionals)
    {
        var values = new HashSet<string>(valueOptions.Concat(ConnectionOptions), StringComparer.Ordinal);
        var flags = new HashSet<string>(flagOptions.Append(JsonFlag), StringComparer.Ordinal);
        return new ArgumentReader(args, values, flags, positionals);
    }

    /// <summary>The positional argument <paramref name="index"/>, or a usage error naming what is missing.</summary>
    public static string Positional(ArgumentReader options, int index, string what) =>
        index < options.Positionals.Count ? options.Positionals[index] : throw new UsageException($"missing {what}");

    public static ApiClient Connect(ArgumentReader options) =>
        new(DaemonEndpoint.Resolve(options.Get("--server"), options.Get("--token"), options.Get("--data-dir"), Environment.GetEnvironmentVariable));

    /// <summary>Runs <paramref name="body"/>; an API error becomes its lines on stderr and its exit code.</summary>
    public static int Run(Func<Task<int>> body)
    {
        try
        {
            return body().GetAwaiter().GetResult();
        }
        catch (ApiException e)
        {
            foreach (var line in e.Problems)
            {
                Console.Error.WriteLine($"sharpvisor: error: {line}");
            }

            return e.ExitCode;
        }
        catch (DaemonUnreachableException e)
        {
            return Program.Fail(ExitCodes.RuntimeError, e.Message);
        }
    }

    /// <summary>Writes <paramref name="text"/> to stdout, adding the final newline JSON answers lack.</summary>
    public static void Print(string text)
    {
        Console.Out.Write(text.EndsWith('\n') ? text : text + "\n");
        Console.Out.Flush();
    }
}
