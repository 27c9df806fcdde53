namespace Sharpvisor.Storage.Qcow2;

/// <summary>The images opened so far along one backing chain: a loop or a chain deeper than 64 is refused.</summary>
internal sealed class BackingChain
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>Records <paramref name="path"/> (by its real path, so that a symlink cannot hide a loop).</summary>
    public void Enter(string path)
    {
        var full = Path.GetFullPath(path);
        var real = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        if (!_seen.Add(real))
        {
            throw new Qcow2FormatException($"backing chain loops back to {real}");
        }

        if (_seen.Count > Qcow2Limits.MaxBackingDepth + 1)
        {
            throw new Qcow2FormatException($"backing chain is deeper than {Qcow2Limits.MaxBackingDepth}");
        }
    }

    /// <summary>Opens the backing file an overlay at <paramref name="overlayPath"/> names, read-only.</summary>
    public IBlockBackend OpenBacking(string overlayPath, string name, string? formatName, Qcow2CacheOptions cache)
    {
        var path = Path.IsPathRooted(name)
            ? name
            : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(overlayPath)) ?? "/", name);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"backing file {path} of {overlayPath} does not exist", path);
        }

        // Never guessed: a raw backing file whose first bytes a guest once wrote could otherwise pose as a qcow2 image
        // naming any host file as its own backing (qemu-img has recorded the format since QEMU 6.1).
        var format = formatName is null
            ? throw new NotSupportedException(
                $"{overlayPath} does not say its backing file's format; record it with: qemu-img rebase -u -F raw|qcow2 -b {name} {overlayPath}")
            : ImageFormat.FromName(formatName)
                ?? throw new NotSupportedException($"backing file format \"{formatName}\" of {overlayPath} is not supported");

        if (format == DiskFormat.Raw)
        {
            Enter(path);
            return RawImage.Open(path, readOnly: true);
        }

        return Qcow2Image.Open(path, readOnly: true, cache, this);
    }
}
