namespace Sharpvisor.Api;

/// <summary>
/// A storage pool: a directory of disk images VMs may use (libvirt's "dir" pool), one per <c>serve --storage-root
/// [NAME=]DIR</c>; <c>default</c> is the data directory's <c>images</c> when none is given.
/// </summary>
public sealed record PoolResource
{
    /// <summary>1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public required string Name { get; init; }

    public required string Path { get; init; }

    public required long FreeBytes { get; init; }

    public required long TotalBytes { get; init; }

    /// <summary>The images in it (its regular files, not in subdirectories, not hidden).</summary>
    public required int ImageCount { get; init; }
}

/// <summary>A disk image in a pool.</summary>
public sealed record ImageResource
{
    /// <summary>Its file name in the pool's directory.</summary>
    public required string Name { get; init; }

    public required string Pool { get; init; }

    /// <summary>The path a VM definition names it by.</summary>
    public required string Path { get; init; }

    /// <summary>raw or qcow2, as its first bytes say (a VM's disk still names its format: a start never guesses it).</summary>
    public required string Format { get; init; }

    /// <summary>The disk's size as a guest sees it.</summary>
    public required long VirtualSizeBytes { get; init; }

    /// <summary>What it takes on the host's disk (allocated blocks: a sparse or thin image takes less than its size).</summary>
    public required long ActualSizeBytes { get; init; }

    /// <summary>A qcow2 image's backing file, as its header names it.</summary>
    public string? BackingFile { get; init; }

    /// <summary>The VMs whose disks are this image or read it below an overlay (then it cannot be deleted).</summary>
    public IReadOnlyList<string> UsedBy { get; init; } = [];

    /// <summary>Why the image could not be read (a damaged or unsupported qcow2 header), or null.</summary>
    public string? Problem { get; init; }
}

/// <summary>The body of <c>POST /api/v1/pools/{pool}/images</c>: a new empty image, or a qcow2 overlay over another image of the pool.</summary>
public sealed record ImageSpec
{
    /// <summary>The file name: 1 to 128 of letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public string? Name { get; init; }

    /// <summary>qcow2 (the default) or raw.</summary>
    public string? Format { get; init; }

    /// <summary>The virtual size in bytes, a multiple of 512; with a backing image, its size when left out.</summary>
    public long? SizeBytes { get; init; }

    /// <summary>An image of the same pool the new qcow2 image is an overlay over (named relative to it).</summary>
    public string? Backing { get; init; }
}
