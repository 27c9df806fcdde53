namespace Sharpvisor.Kvm.Host;

/// <summary>How the host's KVM runs guests: on VT-x/AMD-V hardware, or under PVM's software emulation.</summary>
public enum VirtualizationKind
{
    Unknown,
    HardwareIntel,
    HardwareAmd,

    /// <summary>kvm_pvm: ordinary guests run under KVM's instruction emulator (see ENVIRONMENT.md).</summary>
    PvmEmulation,
}

public static class HostVirtualization
{
    /// <summary>Looks at the loaded KVM modules (and the CPU flags) under the given /sys and /proc roots.</summary>
    public static VirtualizationKind Detect(string sysRoot = "/sys", string procRoot = "/proc")
    {
        if (Directory.Exists(Path.Combine(sysRoot, "module/kvm_pvm")))
        {
            return VirtualizationKind.PvmEmulation;
        }

        if (Directory.Exists(Path.Combine(sysRoot, "module/kvm_intel")))
        {
            return VirtualizationKind.HardwareIntel;
        }

        if (Directory.Exists(Path.Combine(sysRoot, "module/kvm_amd")))
        {
            return VirtualizationKind.HardwareAmd;
        }

        var flags = CpuFlags(procRoot);
        return flags.Contains("vmx") ? VirtualizationKind.HardwareIntel
            : flags.Contains("svm") ? VirtualizationKind.HardwareAmd
            : VirtualizationKind.Unknown;
    }

    public static string Describe(VirtualizationKind kind) => kind switch
    {
        VirtualizationKind.HardwareIntel => "hardware (Intel VT-x)",
        VirtualizationKind.HardwareAmd => "hardware (AMD-V)",
        VirtualizationKind.PvmEmulation => "PVM emulation (kvm_pvm: ordinary guests run under KVM's instruction emulator, thousands of times slower than hardware)",
        _ => "unknown",
    };

    private static HashSet<string> CpuFlags(string procRoot)
    {
        try
        {
            var line = File.ReadLines(Path.Combine(procRoot, "cpuinfo")).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return line is null ? [] : [.. line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        }
        catch (IOException)
        {
            return [];
        }
    }
}
