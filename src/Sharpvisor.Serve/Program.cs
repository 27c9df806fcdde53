using Sharpvisor.Cli;

namespace Sharpvisor.Serve;

/// <summary>Entry point of <c>sharpvisor-serve</c>; users run it as <c>sharpvisor serve</c>.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        try
        {
            return ServeCommand.Execute(args);
        }
        catch (UsageException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
        catch (IOException e)
        {
            return Fail(ExitCodes.RuntimeError, e.Message);
        }
        catch (UnauthorizedAccessException e)
        {
            return Fail(ExitCodes.RuntimeError, e.Message);
        }
#pragma warning disable CA1031 // the last line of defence: a user sees one line, never a stack trace
        catch (Exception e)
        {
            return Fail(ExitCodes.RuntimeError, $"internal error: {e.GetType().Name}: {e.Message}");
        }
#pragma warning restore CA1031
    }

    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"sharpvisor: error: {message}");
        return code;
    }
}
