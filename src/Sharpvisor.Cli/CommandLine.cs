using Sharpvisor.Kvm;

namespace Sharpvisor.Cli;

/// <summary>
/// How every <c>sharpvisor</c> executable ends: each problem one line on stderr, never a stack trace, and the exit
/// codes of DEVELOPERS.md (2 usage, 1 runtime). Shared as source by sharpvisor and sharpvisor-serve.
/// </summary>
internal static partial class CommandLine
{
    /// <param name="command">The command; it throws to fail.</param>
    /// <param name="helpTopic">What <see cref="Help"/> topic a <c>--help</c> among its arguments asks for.</param>
    public static int Run(Func<int> command, Func<string> helpTopic)
    {
        try
        {
            return command();
        }
        catch (HelpRequestedException)
        {
            var text = Help.For(helpTopic()) ?? Help.Overview;
            Console.Out.Write(text.EndsWith('\n') ? text : text + "\n");
            Console.Out.Flush();
            return ExitCodes.Success;
        }
#pragma warning disable CA1031 // the last line of defence: a user sees one line, never a stack trace
        catch (Exception e)
        {
            var (code, message) = Describe(e);
            return Fail(code, message);
        }
#pragma warning restore CA1031
    }

    /// <summary>The exit code and the one line an exception ends a command with: bad input is a usage error (2).</summary>
    public static (int Code, string Message) Describe(Exception e) => e switch
    {
        UsageException => (ExitCodes.Usage, e.Message),
        _ when IsConfigurationError(e) => (ExitCodes.Usage, e.Message),
        KvmException or IOException or UnauthorizedAccessException => (ExitCodes.RuntimeError, e.Message),
        _ => (ExitCodes.RuntimeError, $"internal error: {e.GetType().Name}: {e.Message}"),
    };

    /// <summary>
    /// Whether <paramref name="e"/> is this executable's own kind of bad input (the VMM's configuration and boot errors
    /// in sharpvisor; none in sharpvisor-serve, which links no VMM code).
    /// </summary>
    private static partial bool IsConfigurationError(Exception e);

    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"sharpvisor: error: {message}");
        return code;
    }
}
