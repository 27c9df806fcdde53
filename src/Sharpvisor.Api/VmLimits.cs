using Sharpvisor.Control;

namespace Sharpvisor.Api;

/// <summary>
/// The limits a definition is checked against on the way in. Where the VMM has the limit, it is taken from there;
/// what depends on the host (its KVM's vCPU limit, the guest physical address width) is checked again when the VM starts.
/// </summary>
public static class VmLimits
{
    public const int MaxNameLength = 63;

    public const int MinVcpus = 1;

    /// <summary>xAPIC IDs are 8 bits and 0xFF is the broadcast ID, so 255 vCPUs at most (as `sharpvisor run` allows).</summary>
    public const int MaxVcpus = 255;

    public const int MinMemoryMiB = (int)(VmmLimits.MinimumRamSize >> 20);

    /// <summary>64 GiB; what the host's guest physical address width really allows is checked when the VM starts.</summary>
    public const int MaxMemoryMiB = 64 * 1024;

    /// <summary>In UTF-8 bytes: the VMM's command-line buffer less its terminating NUL.</summary>
    public const int MaxCmdlineBytes = (int)VmmLimits.MaxCommandLineSize - 1;

    /// <summary>Linux's PATH_MAX less the NUL.</summary>
    public const int MaxPathBytes = 4095;

    public const int MaxScenarioLength = 32;

    /// <summary>
    /// The root PCI bus has 32 device slots: slot 0 is the host bridge and two stay free for the virtio console and rng,
    /// so disks and NICs together take at most 29.
    /// </summary>
    public const int MaxDisksAndNics = 29;

    /// <summary>A display takes three more slots (gpu, keyboard, tablet).</summary>
    public const int MaxDisksAndNicsWithDisplay = MaxDisksAndNics - 3;

    /// <summary>virtio-gpu's scanouts.</summary>
    public const int MaxDisplayHeads = 16;

    /// <summary>The VMM's largest framebuffer side.</summary>
    public const int MaxDisplaySide = 8192;

    /// <summary>The heads' framebuffers together, as the VMM bounds them (`run --display` refuses more).</summary>
    public const long MaxDisplayBytes = 256L << 20;

    /// <summary>A VNC password's length: VNC authentication keys DES with its first 8 bytes and ignores the rest.</summary>
    public const int MaxVncPasswordLength = 8;
}
