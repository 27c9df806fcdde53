using System.Globalization;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor image check</c>: a qcow2 image's metadata against itself, read-only, with qemu-img check's exit
/// codes so that scripts keep working: 0 clean, 3 leaked clusters only, 2 corruption (1 when the image cannot be read).
/// </summary>
internal static class ImageCheckCommand
{
    public const int Leaks = 3;
    public const int Corruption = 2;

    public static readonly HashSet<string> ValueOptions = ["--format"];

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, new HashSet<string>(), maxPositionals: 1);
        var path = ImageCommand.Positional(options, 0, "an image file", "check");
        var format = ImageCommand.Format(options, "--format");
        ImageCommand.RequireFile(path);
        if ((format ?? ImageFormat.Probe(path)) == DiskFormat.Raw)
        {
            Console.Out.WriteLine($"{path}: a raw image has no metadata to check");
            return ExitCodes.Success;
        }

        var result = Qcow2Image.Check(path);
        foreach (var problem in result.Problems)
        {
            Console.Out.WriteLine(problem);
        }

        if (result.Problems.Count < result.Leaks + result.Corruptions)
        {
            Console.Out.WriteLine($"({result.Leaks + result.Corruptions - result.Problems.Count} more not shown)");
        }

        Console.Out.WriteLine(Summary(result));
        var percent = result.GuestClusters == 0 ? 0 : 100.0 * result.AllocatedClusters / result.GuestClusters;
        Console.Out.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{result.AllocatedClusters}/{result.GuestClusters} = {percent:0.00}% allocated, {result.CompressedClusters} compressed clusters"));
        Console.Out.WriteLine($"Image end offset: {result.ImageEndOffset}");
        Console.Out.Flush();
        return result.Corruptions > 0 ? Corruption : result.Leaks > 0 ? Leaks : ExitCodes.Success;
    }

    private static string Summary(Qcow2CheckResult result)
    {
        if (result.IsClean)
        {
            return "No errors were found on the image.";
        }

        var lines = new List<string>();
        if (result.Corruptions > 0)
        {
            lines.Add($"{result.Corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.");
        }

        if (result.Leaks > 0)
        {
            lines.Add($"{result.Leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.");
        }

        return string.Join('\n', lines);
    }
}
