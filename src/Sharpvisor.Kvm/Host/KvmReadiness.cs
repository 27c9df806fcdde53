namespace Sharpvisor.Kvm.Host;

/// <summary>
/// Whether VMs can start on this host, in words a person can act on: the KVM device exists, opens read-write and
/// speaks API 12. <see cref="Backend"/> is "vt-x", "amd-v", "pvm", "unknown" or "none" (no usable device).
/// </summary>
public sealed record KvmReadiness(string Device, bool Present, bool Usable, string Backend, string? Reason)
{
    /// <summary>Opens the device once and closes it again; never throws for a missing or closed device.</summary>
    public static KvmReadiness Probe(string device = KvmSystem.DefaultPath)
    {
        var present = File.Exists(device);
        try
        {
            using var kvm = KvmSystem.Open(device);
            return new KvmReadiness(device, true, true, BackendName(HostVirtualization.Detect()), null);
        }
        catch (KvmException e)
        {
            return new KvmReadiness(device, present, false, "none", e.Message);
        }
    }

    private static string BackendName(VirtualizationKind kind) => kind switch
    {
        VirtualizationKind.HardwareIntel => "vt-x",
        VirtualizationKind.HardwareAmd => "amd-v",
        VirtualizationKind.PvmEmulation => "pvm",
        _ => "unknown",
    };
}
