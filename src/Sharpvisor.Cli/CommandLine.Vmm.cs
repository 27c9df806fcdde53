using Sharpvisor.Vmm.Arch.X86;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Cli;

internal static partial class CommandLine
{
    private static partial bool IsConfigurationError(Exception e) => e is VmConfigException or BootException or Vmm.State.StateException;
}
