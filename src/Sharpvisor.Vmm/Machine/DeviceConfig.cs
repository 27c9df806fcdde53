namespace Sharpvisor.Vmm.Machine;

/// <summary>A virtio-blk disk: a raw image file, optionally read-only; <paramref name="Id"/> is what GET_ID returns.</summary>
public sealed record DiskConfig(string Path, bool ReadOnly = false, string? Id = null);

/// <summary>A virtio-net interface on TAP device <paramref name="TapName"/>; a null MAC gets a generated locally administered one.</summary>
public sealed record NetConfig(string TapName, byte[]? Mac = null);
