using System.Reflection;
using Sharpvisor.Cli.Commands;

namespace Sharpvisor.Cli;

internal static class Program
{
    private static int Main(string[] args) => CommandLine.Run(
        () => args.Length == 0
            ? Fail(ExitCodes.Usage, "no command given (try 'sharpvisor help')")
            : args[0] is "help" or "version" && args.Skip(1).Any(arg => arg is "--help" or "-h")
            ? throw new HelpRequestedException()
            : args[0] switch
            {
                "run" => RunCommand.Execute(args[1..]),
                "host-info" => HostInfoCommand.Execute(args[1..]),
                "serve" => ServeLauncher.Execute(args[1..]),
                "vm" => VmCommand.Execute(args[1..]),
                "events" => EventsCommand.Execute(args[1..]),
                "image" => ImageCommand.Execute(args[1..]),
                "pool" => PoolCommand.Execute(args[1..]),
                "completion" => CompletionCommand.Execute(args[1..]),
                "help" => HelpCommand(args[1..]),
                "--help" or "-h" => Print(Help.Overview),
                "version" or "--version" => Print($"sharpvisor {Version}\n"),
                var other => throw new UsageException(Help.Nearest(other, Help.Commands) is { } nearest
                    ? $"unknown command '{other}' (did you mean '{nearest}'?)"
                    : $"unknown command '{other}' (try 'sharpvisor help')"),
            },
        () => Help.TopicOf(args));

    /// <summary>The informational version without the source revision: "0.12.0".</summary>
    public static string Version { get; } =
        (typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    public static int Fail(int code, string message) => CommandLine.Fail(code, message);

    /// <summary><c>help [COMMAND [SUBCOMMAND]]</c>.</summary>
    private static int HelpCommand(string[] args)
    {
        if (args.Length == 0)
        {
            return Print(Help.Overview);
        }

        var topic = string.Join(' ', args);
        if (Help.For(topic) is { } text)
        {
            return Print(text);
        }

        var nearest = Help.Nearest(topic, Help.TopicNames);
        throw new UsageException(nearest is null
            ? $"no help for '{topic}' (try 'sharpvisor help')"
            : $"no help for '{topic}' (did you mean 'sharpvisor help {nearest}'?)");
    }

    private static int Print(string text)
    {
        Console.Out.Write(text.EndsWith('\n') ? text : text + "\n");
        Console.Out.Flush();
        return ExitCodes.Success;
    }
}
