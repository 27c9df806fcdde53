using Sharpvisor.Cli;

namespace Sharpvisor.Serve;

/// <summary>Entry point of <c>sharpvisor-serve</c>; users run it as <c>sharpvisor serve</c>.</summary>
internal static class Program
{
    private static int Main(string[] args) => CommandLine.Run(() => ServeCommand.Execute(args), () => "serve");

    public static int Fail(int code, string message) => CommandLine.Fail(code, message);
}
