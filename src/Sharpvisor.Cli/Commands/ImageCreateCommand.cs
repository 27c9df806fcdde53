using System.Numerics;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Cli.Commands;

/// <summary><c>sharpvisor image create</c>: a new empty image, never over an existing file.</summary>
internal static class ImageCreateCommand
{
    public static readonly HashSet<string> ValueOptions = ["--format", "--backing", "--backing-format", "--cluster-size"];

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, new HashSet<string>(), maxPositionals: 2);
        var path = ImageCommand.Positional(options, 0, "the new image's file name", "create");
        var format = ImageCommand.Format(options, "--format") ?? DiskFormat.Qcow2;
        var backing = options.Get("--backing");
        var backingFormat = ImageCommand.Format(options, "--backing-format");
        var clusterBits = ClusterBits(options.Get("--cluster-size"));
        if (format == DiskFormat.Raw && (backing is not null || clusterBits is not null))
        {
            throw new UsageException("a raw image has no backing file and no clusters (--backing and --cluster-size need -f qcow2)");
        }

        if (backing is null && backingFormat is not null)
        {
            throw new UsageException("--backing-format needs --backing");
        }

        ulong? size = options.Positionals.Count > 1 ? ImageCommand.Size(options.Positionals[1], "SIZE") : null;
        ImageCommand.RefuseExisting(path);
        string? backingNote = null;
        if (backing is not null)
        {
            // Relative to the new image's directory, as the header's name will be read.
            var resolved = Path.IsPathRooted(backing) ? backing : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/", backing);
            ImageCommand.RequireFile(resolved);
            var actualFormat = backingFormat ?? ImageFormat.Probe(resolved);
            using (var image = Images.Open(resolved, actualFormat, readOnly: true))
            {
                // A raw backing file of any length: the overlay covers it in whole sectors.
                size ??= checked((image.Size + 511) / 512 * 512);
            }

            backingFormat = actualFormat;
            backingNote = $", backing file {backing} ({ImageFormat.Name(actualFormat)})";
        }

        if (size is not { } bytes)
        {
            throw new UsageException("image create needs a SIZE (10G, 512M, or bytes) unless --backing gives one");
        }

        if (format == DiskFormat.Qcow2)
        {
            Qcow2Image.Create(path, bytes, clusterBits ?? 16, backing, backingFormat is { } f ? ImageFormat.Name(f) : null);
        }
        else
        {
            CreateRaw(path, bytes);
        }

        Console.Out.WriteLine($"created {path}: {ImageFormat.Name(format)}, {ImageCommand.DescribeSize(bytes)}{backingNote}");
        return ExitCodes.Success;
    }

    /// <summary>log2 of --cluster-size: a power of two from 512 bytes to 2 MiB, as qcow2 allows.</summary>
    private static int? ClusterBits(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var bytes = ImageCommand.Size(text, "--cluster-size");
        if (!BitOperations.IsPow2(bytes) || bytes < 512 || bytes > 2UL << 20)
        {
            throw new UsageException($"--cluster-size '{text}' must be a power of two from 512 to 2M");
        }

        return BitOperations.Log2(bytes);
    }

    /// <summary>A sparse file of the size: no block is written, so it takes no space until the guest writes.</summary>
    private static void CreateRaw(string path, ulong size)
    {
        if (size > long.MaxValue)
        {
            throw new IOException($"size {size} is too large for a file");
        }

        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        RandomAccess.SetLength(file, (long)size);
        RandomAccess.FlushToDisk(file);
    }
}
