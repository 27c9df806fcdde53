using System.Text;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Machine;

/// <summary>Checks a configuration against what this host's KVM can run, before anything is allocated.</summary>
public static class HostLimits
{
    private const uint AddressSizesLeaf = 0x8000_0008;

    // The architectural limit of x86-64's MAXPHYADDR: no host's KVM offers a guest more.
    private const int MaxPhysicalAddressBits = 52;

    /// <summary>
    /// The checks that need no host, made before /dev/kvm is opened, so that a bad argument is a usage error on any
    /// machine (also one without KVM); <see cref="CheckAndLayOut"/> then checks against this host's KVM.
    /// </summary>
    internal static void CheckWithoutHost(VmConfig config)
    {
        if (config.Cpus < 1 || config.Cpus > CpuidTable.MaxVcpus)
        {
            throw new VmConfigException($"--cpus {config.Cpus} is out of range: no host allows more than {CpuidTable.MaxVcpus} vCPUs per VM");
        }

        try
        {
            MemoryLayout.Validate(config.MemoryBytes, MaxPhysicalAddressBits);
        }
        catch (InvalidMemorySizeException e)
        {
            throw new VmConfigException(e.Message);
        }

        var limit = MemoryLayout.MaxCommandLineSize - 1;
        var length = (ulong)Encoding.UTF8.GetByteCount(config.CommandLine);
        if (length > limit)
        {
            throw new VmConfigException($"the kernel command line is {length} bytes; the limit is {limit} bytes");
        }
    }

    internal static MemoryLayout CheckAndLayOut(VmConfig config, KvmSystem kvm, IReadOnlyList<CpuidEntry> supportedCpuid)
    {
        var maxVcpus = Math.Min(kvm.MaxVcpus, CpuidTable.MaxVcpus);
        if (config.Cpus < 1 || config.Cpus > maxVcpus)
        {
            throw new VmConfigException($"--cpus {config.Cpus} is out of range: this host allows 1 to {maxVcpus} vCPUs per VM");
        }

        try
        {
            return new MemoryLayout(config.MemoryBytes, PhysicalAddressBits(supportedCpuid));
        }
        catch (InvalidMemorySizeException e)
        {
            throw new VmConfigException(e.Message);
        }
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID as the CPUID table builder's entries.</summary>
    public static CpuidEntry[] SupportedCpuid(KvmSystem kvm)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        return [.. kvm.GetSupportedCpuid().Select(e => new CpuidEntry(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx))];
    }

    /// <summary>The guest-physical address width (MAXPHYADDR) from CPUID 0x80000008, 36 bits when absent.</summary>
    public static int PhysicalAddressBits(IReadOnlyList<CpuidEntry> supportedCpuid)
    {
        foreach (var entry in supportedCpuid)
        {
            if (entry.Function == AddressSizesLeaf && (entry.Eax & 0xFF) >= 32)
            {
                return (int)(entry.Eax & 0xFF);
            }
        }

        return 36;
    }
}
