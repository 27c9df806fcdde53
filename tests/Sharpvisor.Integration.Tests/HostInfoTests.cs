namespace Sharpvisor.Integration.Tests;

public sealed class HostInfoTests
{
    [KvmFact]
    public async Task HostInfoReportsApiVersionCapabilitiesAndVirtualizationKind()
    {
        var result = await SharpvisorProcess.RunAsync(["host-info"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"API version:\s+12\n", result.Stdout);
        Assert.Matches(@"max vCPUs per VM:\s+\d+", result.Stdout);
        Assert.Matches(@"KVM_CAP_Irqchip:\s+yes", result.Stdout);
        Assert.Matches(@"virtualization:\s+(hardware|PVM emulation)", result.Stdout);
        // This host's KVM is PVM (ENVIRONMENT.md); the report must say so when the module is there.
        if (Directory.Exists("/sys/module/kvm_pvm"))
        {
            Assert.Contains("PVM emulation", result.Stdout, StringComparison.Ordinal);
        }
    }
}
