using Sharpvisor.Storage;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// A virtio-blk disk: an image file in <paramref name="Format"/> (never guessed from its bytes: a guest could write a
/// qcow2 header into a raw disk and name a host file as its backing image), optionally read-only;
/// <paramref name="Id"/> is what GET_ID returns.
/// </summary>
public sealed record DiskConfig(string Path, bool ReadOnly = false, string? Id = null, DiskFormat Format = DiskFormat.Raw);

/// <summary>A virtio-net interface on TAP device <paramref name="TapName"/>; a null MAC gets a generated locally administered one.</summary>
public sealed record NetConfig(string TapName, byte[]? Mac = null);
