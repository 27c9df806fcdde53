using System.Buffers.Binary;

namespace Sharpvisor.Storage;

/// <summary>Tells an image's format from its first bytes, and maps formats to and from qemu's names.</summary>
public static class ImageFormat
{
    internal const uint Qcow2Magic = 0x514649fb; // "QFI\xfb"

    /// <summary>
    /// Qcow2 when the file starts with the qcow2 magic, else raw. A raw disk whose first sector happens to start with
    /// the magic would be misread, which is why a backing file's format is best named in its overlay.
    /// </summary>
    public static DiskFormat Probe(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> magic = stackalloc byte[4];
        var read = RandomAccess.Read(file, magic, 0);
        return read == 4 && BinaryPrimitives.ReadUInt32BigEndian(magic) == Qcow2Magic ? DiskFormat.Qcow2 : DiskFormat.Raw;
    }

    /// <summary>The format qemu's <paramref name="name"/> stands for, or null if it is none of ours.</summary>
    public static DiskFormat? FromName(string name) => name switch
    {
        "raw" => DiskFormat.Raw,
        "qcow2" => DiskFormat.Qcow2,
        _ => null,
    };

    /// <summary>The name qemu uses for <paramref name="format"/>.</summary>
    public static string Name(DiskFormat format) => format == DiskFormat.Qcow2 ? "qcow2" : "raw";
}
