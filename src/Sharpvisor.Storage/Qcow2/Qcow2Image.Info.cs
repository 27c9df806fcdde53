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
}
