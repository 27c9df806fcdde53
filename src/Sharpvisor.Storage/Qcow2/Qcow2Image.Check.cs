namespace Sharpvisor.Storage.Qcow2;

/// <summary>Checking an image's metadata without changing it.</summary>
public sealed partial class Qcow2Image
{
    /// <summary>How many problem lines <see cref="Check"/> keeps: a badly broken image has one per cluster.</summary>
    public const int MaxCheckMessages = 1000;

    /// <summary>
    /// Checks the image at <paramref name="path"/> read-only: every table and data cluster is aligned and inside the
    /// file, and every refcount equals the references to its cluster. Only a header too broken to walk anything throws
    /// (<see cref="Qcow2FormatException"/>), and images with internal snapshots or persistent bitmaps, whose tables it
    /// does not walk, are refused (<see cref="NotSupportedException"/>); everything else is counted in the result.
    /// </summary>
    public static Qcow2CheckResult Check(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var length = RandomAccess.GetLength(file);
        var header = Qcow2Header.Read(file, length);

        // Their tables own clusters this check does not walk: it would call every one of them a leak.
        if (header.SnapshotCount > 0)
        {
            throw new NotSupportedException($"checking an image with internal snapshots ({header.SnapshotCount}) is not supported");
        }

        if ((header.AutoclearFeatures & 1) != 0)
        {
            throw new NotSupportedException("checking an image with persistent dirty bitmaps is not supported");
        }

        return new Qcow2Checker(file, length, header).Run();
    }
}
