namespace Sharpvisor.Vmm.Machine;

/// <summary>What to do when the guest asks for a reset.</summary>
public enum RebootAction
{
    Stop,
    Restart,
}

/// <summary>Everything needed to build one VM. Checked against the host when the machine is built.</summary>
public sealed record VmConfig
{
    public const ulong DefaultMemory = 128UL << 20;

    /// <summary>The kernel image (a PVH ELF) and a name for it in messages.</summary>
    public required byte[] Kernel { get; init; }

    public string KernelDescription { get; init; } = "kernel";

    public byte[]? Initrd { get; init; }

    public string CommandLine { get; init; } = "";

    public int Cpus { get; init; } = 1;

    public ulong MemoryBytes { get; init; } = DefaultMemory;

    /// <summary>Where the guest's COM1 output goes; null discards it.</summary>
    public Stream? SerialOutput { get; init; }

    public RebootAction OnReboot { get; init; } = RebootAction.Stop;

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>
    /// On hosts whose KVM emulates instructions (PVM): complete the instructions it cannot (int3, fwait) and
    /// give Linux guests the kernel arguments that avoid the rest. Harmless on hardware virtualization.
    /// </summary>
    public bool EmulationWorkarounds { get; init; } = true;

    /// <summary>Sample the guest's RIP into a stream (a diagnostic); null, the default, does not.</summary>
    public GuestProfileOptions? GuestProfile { get; init; }

    public string KvmPath { get; init; } = Sharpvisor.Kvm.KvmSystem.DefaultPath;

    /// <summary>virtio-blk disks, in PCI slot order.</summary>
    public IReadOnlyList<DiskConfig> Disks { get; init; } = [];

    /// <summary>virtio-net interfaces, in PCI slot order after the disks.</summary>
    public IReadOnlyList<NetConfig> Nics { get; init; } = [];

    /// <summary>A virtio console (hvc0) writing to <see cref="SerialOutput"/>; host input then goes to it instead of COM1.</summary>
    public bool VirtioConsole { get; init; }

    /// <summary>A virtio-rng device fed from the host's getrandom.</summary>
    public bool VirtioRng { get; init; }

    /// <summary>
    /// A virtio-gpu with one head per framebuffer (none: no display). The framebuffers belong to the caller, so they
    /// outlive a guest reboot (a new machine) and the display servers reading them.
    /// </summary>
    public IReadOnlyList<Sharpvisor.Display.Framebuffer> DisplayHeads { get; init; } = [];

    /// <summary>
    /// Where the display's clients send keys and pointer: with <see cref="DisplayHeads"/> the VM gets a virtio keyboard and
    /// tablet, attached to this when the machine is built (the caller owns it, as it owns the framebuffers).
    /// </summary>
    public Sharpvisor.Vmm.Devices.Virtio.Input.DisplayInput? DisplayInput { get; init; }

    /// <summary>Where the VMM reports guest misbehaviour it survives (once per device and cause); null: standard error.</summary>
    public Action<string>? Log { get; init; }

    public bool HasPciDevices => Disks.Count > 0 || Nics.Count > 0 || VirtioConsole || VirtioRng || DisplayHeads.Count > 0;
}
