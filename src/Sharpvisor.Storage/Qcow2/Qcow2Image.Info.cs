namespace Sharpvisor.Storage.Qcow2;

/// <summary>Reading an image's header alone, without its tables or backing chain.</summary>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// The checked header of the image at <paramref name="path"/> (shared read access). Its backing file need not
    /// exist: a tool describing an image must work when the chain is broken. Throws as <see cref="Open(string, bool, Qcow2CacheOptions?)"/>.
    /// </summary>
    public static Qcow2Info ReadInfo(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return ReadInfo(file);
    }

    private static Qcow2Info ReadInfo(Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        var header = Qcow2Header.Read(file, RandomAccess.GetLength(file));
        return new Qcow2Info(
            header.Version,
            header.Size,
            header.ClusterSize,
            1 << header.RefcountOrder,
            header.BackingFile,
            header.BackingFormat,
            header.IsDirty,
            header.IsCorrupt,
            header.SnapshotCount);
    }

    /// <summary>
    /// The backing files of the qcow2 image at <paramref name="path"/>, nearest first, each by the path an open of the
    /// image would use and in the format its overlay names: what a launcher must open for a confined VMM, and check
    /// first. Reads headers only. Throws as an open would on a missing file, an unnamed or unknown format, a loop, or a
    /// chain deeper than 64. <paramref name="openBacking"/>, as for <see cref="Open(Microsoft.Win32.SafeHandles.SafeFileHandle, string, bool, Qcow2CacheOptions?, Func{string, Microsoft.Win32.SafeHandles.SafeFileHandle?}?)"/>,
    /// sees each backing file before it is read: it may refuse it (by throwing), open it itself, or return null (the
    /// file is opened by path): a manager holds a file named in an uploaded header to its rules before opening it.
    /// </summary>
    public static IReadOnlyList<(string Path, DiskFormat Format)> BackingFiles(string path, Func<string, Microsoft.Win32.SafeHandles.SafeFileHandle?>? openBacking = null)
    {
        var chain = new BackingChain();
        chain.Enter(path);
        var files = new List<(string Path, DiskFormat Format)>();
        for (var (overlay, info) = (path, ReadInfo(path)); info?.BackingFile is { } name;)
        {
            var backing = BackingChain.PathOf(overlay, name);
            var format = BackingChain.FormatOf(overlay, name, info.BackingFormat);
            chain.Enter(backing);
            using var opened = openBacking?.Invoke(backing);
            if (opened is null)
            {
                BackingChain.RequireExists(backing, overlay);
            }

            files.Add((backing, format));
            (overlay, info) = (backing, format != DiskFormat.Qcow2 ? null : opened is not null ? ReadInfo(opened) : ReadInfo(backing));
        }

        return files;
    }
}
