using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage;

/// <summary>Opens an image with the backend its format needs.</summary>
public static class Images
{
    /// <summary>Opens <paramref name="path"/> as raw or qcow2, as its first bytes say.</summary>
    public static IBlockBackend Open(string path, bool readOnly) =>
        Open(path, ImageFormat.Probe(path), readOnly);

    /// <summary>Opens <paramref name="path"/> in the given <paramref name="format"/>.</summary>
    public static IBlockBackend Open(string path, DiskFormat format, bool readOnly) => format switch
    {
        DiskFormat.Qcow2 => Qcow2Image.Open(path, readOnly),
        _ => RawImage.Open(path, readOnly),
    };
}
