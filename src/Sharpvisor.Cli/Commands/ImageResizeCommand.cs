using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor image resize</c>: a new virtual size, absolute or "+SIZE". qcow2 grows in place (its L1 table may
/// grow inside its own clusters; moving it is refused); a raw file is extended, and shrunk only with --shrink.
/// </summary>
internal static class ImageResizeCommand
{
    public static readonly HashSet<string> ValueOptions = ["--format"];

    public static readonly HashSet<string> FlagOptions = ["--shrink"];

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, FlagOptions, maxPositionals: 2);
        var path = ImageCommand.Positional(options, 0, "an image file", "resize");
        var sizeText = ImageCommand.Positional(options, 1, "the new SIZE (10G, +1G, or bytes)", "resize");
        var format = ImageCommand.Format(options, "--format");
        ImageCommand.RequireFile(path);
        var actual = format ?? ImageFormat.Probe(path);
        var current = actual == DiskFormat.Qcow2 ? Qcow2Image.ReadInfo(path).VirtualSize : (ulong)new FileInfo(path).Length;
        var relative = sizeText.StartsWith('+');
        var size = ImageCommand.Size(relative ? sizeText[1..] : sizeText, "SIZE");
        var target = relative ? checked(current + size) : size;
        if (target < current && !options.Has("--shrink"))
        {
            throw new IOException($"{path}: shrinking from {current} to {target} bytes loses data; add --shrink (raw images only) if that is meant");
        }

        if (actual == DiskFormat.Qcow2)
        {
            if (target < current)
            {
                throw new IOException($"{path}: shrinking a qcow2 image is not supported");
            }

            Qcow2Image.Grow(path, target);
        }
        else
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            RandomAccess.SetLength(file, checked((long)target));
            RandomAccess.FlushToDisk(file);
        }

        Console.Out.WriteLine($"resized {path}: {ImageCommand.DescribeSize(current)} -> {ImageCommand.DescribeSize(target)}");
        return ExitCodes.Success;
    }
}
