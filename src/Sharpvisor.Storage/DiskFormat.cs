namespace Sharpvisor.Storage;

/// <summary>The image formats this library opens.</summary>
public enum DiskFormat
{
    /// <summary>The file's bytes are the disk's bytes.</summary>
    Raw,

    /// <summary>QEMU's copy-on-write format.</summary>
    Qcow2,
}
