using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage;

/// <summary>Opens an image with the backend its format needs.</summary>
public static class Images
{
    /// <summary>Opens <paramref name="path"/> as raw or qcow2, as its first bytes say.</summary>
    public static IBlockBackend Open(string path, bool readOnly) =>
        Open(path, ImageFormat.Probe(path), readOnly);

    /// <summary>Opens <paramref name="path"/> in the given <paramref name="format"/>; a raw image with <paramref name="dataMap"/> (<see cref="RawImage.DataMap"/>).</summary>
    public static IBlockBackend Open(string path, DiskFormat format, bool readOnly, Func<Microsoft.Win32.SafeHandles.SafeFileHandle, long, (long Start, long End)?>? dataMap = null) => format switch
    {
        DiskFormat.Qcow2 => Qcow2Image.Open(path, readOnly),
        _ => RawImage.Open(path, readOnly, dataMap),
    };
}
