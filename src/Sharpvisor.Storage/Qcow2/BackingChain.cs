using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Storage.Qcow2;

/// <summary>
/// The images opened so far along one backing chain: a loop or a chain deeper than 64 is refused. Each backing file is
/// opened read-only through the opener given, if any (a confined VMM may not open files by path: its launcher opened
/// them and hands over descriptors), else by path.
/// </summary>
internal sealed class BackingChain(Func<string, SafeFileHandle?>? opener = null)
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>Records <paramref name="path"/> (by its real path, so that a symlink cannot hide a loop).</summary>
    public void Enter(string path)
    {
        var full = Path.GetFullPath(path);
        var real = File.Exists(full) ? new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full : full;
        if (!_seen.Add(real))
        {
            throw new Qcow2FormatException($"backing chain loops back to {real}");
        }

        if (_seen.Count > Qcow2Limits.MaxBackingDepth + 1)
        {
            throw new Qcow2FormatException($"backing chain is deeper than {Qcow2Limits.MaxBackingDepth}");
        }
    }

    /// <summary>
    /// Where the backing file <paramref name="name"/> of the overlay at <paramref name="overlayPath"/> is: a relative
    /// name is relative to the overlay's directory. Whoever opens a chain for someone else uses this very path.
    /// </summary>
    public static string PathOf(string overlayPath, string name) =>
        Path.IsPathRooted(name)
            ? name
            : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(overlayPath)) ?? "/", name);

    /// <summary>
    /// The format an overlay's header names for its backing file. Never guessed: a raw backing file whose first bytes
    /// a guest once wrote could otherwise pose as a qcow2 image naming any host file as its own backing (qemu-img has
    /// recorded the format since QEMU 6.1).
    /// </summary>
    public static DiskFormat FormatOf(string overlayPath, string name, string? formatName) =>
        formatName is null
            ? throw new NotSupportedException(
                $"{overlayPath} does not say its backing file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b {name} {overlayPath}")
            : ImageFormat.FromName(formatName)
                ?? throw new NotSupportedException($"backing file format \"{formatName}\" of {overlayPath} is not supported");

    /// <summary>Throws <see cref="FileNotFoundException"/>, naming the overlay, when the backing file <paramref name="path"/> is missing.</summary>
    public static void RequireExists(string path, string overlayPath)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"backing file {path} of {overlayPath} does not exist", path);
        }
    }

    /// <summary>Opens the backing file an overlay at <paramref name="overlayPath"/> names, read-only.</summary>
    public IBlockBackend OpenBacking(string overlayPath, string name, string? formatName, Qcow2CacheOptions cache)
    {
        var path = PathOf(overlayPath, name);
        var format = FormatOf(overlayPath, name, formatName);
        var file = opener?.Invoke(path);
        if (file is null)
        {
            RequireExists(path, overlayPath);
        }

        try
        {
            Enter(path);
            file ??= File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            IBlockBackend image = format == DiskFormat.Raw
                ? RawImage.Open(file, readOnly: true)
                : Qcow2Image.Open(file, path, readOnly: true, cache, this);
            file = null; // the image's now
            return image;
        }
        finally
        {
            file?.Dispose();
        }
    }
}
