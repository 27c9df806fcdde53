using Sharpvisor.Cli;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Integration.Tests;

/// <summary>A machine's vCPU threads never outlive the memory and kvm_run pages they use, whatever fails when.</summary>
public sealed class MachineLifetimeTests
{
    [KvmFact]
    public void ARunThatFailsAfterStartingVcpusStopsThemBeforeItThrows()
    {
        var machine = Machine.Create(new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "idle", Cpus = 3 });
        var started = 0;
        machine.AfterVcpuStarted = id =>
        {
            // vCPU 0 and 1 run the guest already when the start of the machine fails.
            if (++started == 2)
            {
                throw new InvalidOperationException("injected start failure");
            }
        };

        var error = Assert.Throws<InvalidOperationException>(() => machine.Run());
        Assert.Equal("injected start failure", error.Message);
        Assert.Equal(0, machine.LiveVcpuThreads); // before the fix they ran on, and Dispose unmapped their pages
        machine.Dispose();
        Assert.False(machine.Memory.IsMapped);
    }
}
