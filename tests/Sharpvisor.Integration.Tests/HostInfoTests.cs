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
        Assert.Matches($@"CPUs:\s+{Environment.ProcessorCount}\n", result.Stdout);
        // This host's KVM is PVM (ENVIRONMENT.md); the report must say so when the module is there.
        if (Directory.Exists("/sys/module/kvm_pvm"))
        {
            Assert.Contains("PVM emulation", result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WithoutAUsableKvmItSaysWhyAndStillShowsTheHost()
    {
        var result = await SharpvisorProcess.RunAsync(["host-info", "--kvm", "/nonexistent/kvm"]);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Matches($@"CPUs:\s+{Environment.ProcessorCount}\n", result.Stdout);
        Assert.Matches(@"memory:\s+\d+ MiB available of [1-9]\d* MiB\n", result.Stdout);
        Assert.Matches(@"storage:\s+\d+\.\d GiB free of \d+\.\d GiB in /", result.Stdout);
        Assert.Contains("KVM:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("not usable: /nonexistent/kvm does not exist", result.Stdout, StringComparison.Ordinal);
        Assert.Equal("sharpvisor: error: VMs cannot start on this host: /nonexistent/kvm does not exist: load the kvm module or run on a host with KVM\n", result.Stderr);
    }
}
