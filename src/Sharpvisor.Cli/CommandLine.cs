using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Cli;

/// <summary>
/// How every <c>sharpvisor</c> executable ends: each problem one line on stderr, never a stack trace, and the exit
/// codes of DEVELOPERS.md (2 usage, 1 runtime). Shared as source by sharpvisor and sharpvisor-serve.
/// </summary>
internal static class CommandLine
{
    public static int Run(Func<int> command)
    {
        try
        {
            return command();
        }
        catch (Exception e) when (e is UsageException or VmConfigException or BootException)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
        catch (Exception e) when (e is KvmException or IOException or UnauthorizedAccessException)
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
