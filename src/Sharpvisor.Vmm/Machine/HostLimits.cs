using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Arch.X86;

namespace Sharpvisor.Vmm.Machine;

/// <summary>Checks a configuration against what this host's KVM can run, before anything is allocated.</summary>
public static class HostLimits
{
    private const uint AddressSizesLeaf = 0x8000_0008;

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
