using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Kvm.Tests;

public sealed class HostVirtualizationTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("sharpvisor-hostvirt-");

    private string Sys => Path.Combine(_root.FullName, "sys");

    private string Proc => Path.Combine(_root.FullName, "proc");

    public void Dispose() => _root.Delete(recursive: true);

    private void Fake(string[] modules, string? cpuFlags)
    {
        Directory.CreateDirectory(Path.Combine(Sys, "module", "kvm"));
        foreach (var module in modules)
        {
            Directory.CreateDirectory(Path.Combine(Sys, "module", module, "parameters"));
        }

        Directory.CreateDirectory(Proc);
        if (cpuFlags is not null)
        {
            File.WriteAllText(Path.Combine(Proc, "cpuinfo"),
                $"processor\t: 0\nvendor_id\t: Whatever\nflags\t\t: {cpuFlags}\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: {cpuFlags}\n");
        }
    }

    [Theory]
    [InlineData(new[] { "kvm_pvm" }, null, VirtualizationKind.PvmEmulation)]
    [InlineData(new[] { "kvm_pvm", "kvm_intel" }, "fpu vmx sse2", VirtualizationKind.PvmEmulation)]
    [InlineData(new[] { "kvm_intel" }, null, VirtualizationKind.HardwareIntel)]
    [InlineData(new[] { "kvm_amd" }, null, VirtualizationKind.HardwareAmd)]
    [InlineData(new[] { "kvm_amd" }, "fpu vmx", VirtualizationKind.HardwareAmd)] // the loaded module wins over flags
    [InlineData(new string[0], "fpu vme de pse vmx sse2", VirtualizationKind.HardwareIntel)]
    [InlineData(new string[0], "fpu svm lm", VirtualizationKind.HardwareAmd)]
    [InlineData(new string[0], "svm", VirtualizationKind.HardwareAmd)]
    [InlineData(new string[0], "fpu vme hypervisor sse2", VirtualizationKind.Unknown)]
    [InlineData(new string[0], "fpu vmxnot svmlike", VirtualizationKind.Unknown)] // whole flags only
    [InlineData(new string[0], "", VirtualizationKind.Unknown)]
    [InlineData(new string[0], null, VirtualizationKind.Unknown)] // no cpuinfo at all
    public void DetectReadsModulesThenCpuFlags(string[] modules, string? cpuFlags, VirtualizationKind expected)
    {
        Fake(modules, cpuFlags);
        Assert.Equal(expected, HostVirtualization.Detect(Sys, Proc));
    }

    [Fact]
    public void MissingRootsMeanUnknown()
    {
        Assert.Equal(VirtualizationKind.Unknown, HostVirtualization.Detect(Path.Combine(_root.FullName, "none"), Path.Combine(_root.FullName, "none")));
    }

    [Fact]
    public void DescribeNamesEachKind()
    {
        Assert.Contains("Intel", HostVirtualization.Describe(VirtualizationKind.HardwareIntel), StringComparison.Ordinal);
        Assert.Contains("AMD", HostVirtualization.Describe(VirtualizationKind.HardwareAmd), StringComparison.Ordinal);
        Assert.StartsWith("PVM emulation", HostVirtualization.Describe(VirtualizationKind.PvmEmulation), StringComparison.Ordinal);
        Assert.Equal("unknown", HostVirtualization.Describe(VirtualizationKind.Unknown));
    }
}
