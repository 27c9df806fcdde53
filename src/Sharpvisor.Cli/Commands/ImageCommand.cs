using Sharpvisor.Storage;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor image ...</c>: qemu-img's everyday commands (create, info, check, convert, resize) on
/// Sharpvisor.Storage, with qemu-img's short options and exit codes where scripts rely on them.
/// </summary>
internal static class ImageCommand
{
    public const string Subcommands = "create, info, check, convert, resize";

    /// <summary>qemu-img's short options, spelled out for <see cref="ArgumentReader"/>, which reads long ones only.</summary>
    private static readonly Dictionary<string, string> ShortOptions = new(StringComparer.Ordinal)
    {
        ["-f"] = "--format",
        ["-O"] = "--output-format",
        ["-b"] = "--backing",
        ["-F"] = "--backing-format",
        ["-p"] = "--progress",
    };

    public static int Execute(string[] args)
    {
        if (args.Length > 0 && args[0] is "--help" or "-h")
        {
            throw new HelpRequestedException();
        }

        if (args.Length == 0 || args[0].StartsWith('-'))
        {
            throw new UsageException($"image needs a subcommand: {Subcommands} (try 'sharpvisor help image')");
        }

        var rest = args[1..].Select(arg => ShortOptions.GetValueOrDefault(arg, arg)).ToArray();
        try
        {
            return args[0] switch
            {
                "create" => ImageCreateCommand.Execute(rest),
                "info" => ImageInfoCommand.Execute(rest),
                "check" => ImageCheckCommand.Execute(rest),
                "convert" => ImageConvertCommand.Execute(rest),
                "resize" => ImageResizeCommand.Execute(rest),
                var other => throw new UsageException(Help.Nearest(other, Help.ImageSubcommands) is { } nearest
                    ? $"unknown image subcommand '{other}' (did you mean '{nearest}'?)"
                    : $"unknown image subcommand '{other}' (expected {Subcommands})"),
            };
        }
        catch (ArgumentException e)
        {
            // The library's refusals of a value it cannot represent (a size not a multiple of 512): one line, exit 1.
            throw new IOException(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal), e);
        }
        catch (NotSupportedException e)
        {
            throw new IOException(e.Message, e);
        }
        catch (OverflowException e)
        {
            throw new IOException("size out of range: " + e.Message, e);
        }
    }

    /// <summary>The format an option names ("raw" or "qcow2"), or null when it is not given.</summary>
    public static DiskFormat? Format(ArgumentReader options, string option)
    {
        if (options.Get(option) is not { } name)
        {
            return null;
        }

        return ImageFormat.FromName(name) ?? throw new UsageException($"{option} '{name}': unknown image format (use raw or qcow2)");
    }

    /// <summary>The image at <paramref name="path"/> must exist and be a file: a clear line rather than .NET's wording.</summary>
    public static void RequireFile(string path)
    {
        switch (Sharpvisor.Kvm.Host.HostFile.KindOf(path))
        {
            case Sharpvisor.Kvm.Host.HostFileKind.Directory:
                throw new IOException($"{path} is a directory, not an image");
            case Sharpvisor.Kvm.Host.HostFileKind.Missing:
                throw new IOException($"{path}: no such file");
            case Sharpvisor.Kvm.Host.HostFileKind.BlockDevice or Sharpvisor.Kvm.Host.HostFileKind.CharacterDevice:
                throw new IOException($"{path} is a device node, not an image file");
            case Sharpvisor.Kvm.Host.HostFileKind.Other:
                // A FIFO would block the open until someone writes to it.
                throw new IOException($"{path} is a FIFO or a socket, not an image file");
        }

        if (!File.Exists(path))
        {
            throw new IOException($"{path}: no such file");
        }
    }

    /// <summary>A command that makes <paramref name="path"/> never replaces what is there.</summary>
    public static void RefuseExisting(string path)
    {
        if (File.Exists(path) || Directory.Exists(path))
        {
            throw new IOException($"{path} already exists (refusing to overwrite it)");
        }
    }

    /// <summary>The positional argument at <paramref name="index"/>, or a usage error naming what is missing.</summary>
    public static string Positional(ArgumentReader options, int index, string what, string subcommand) =>
        options.Positionals.Count > index
            ? options.Positionals[index]
            : throw new UsageException($"image {subcommand} needs {what} (try 'sharpvisor help image {subcommand}')");

    /// <summary>An image size: a number of bytes, or with a K, M, G or T suffix (powers of 1024), as qemu-img reads it.</summary>
    public static ulong Size(string text, string what) => SizeParser.Parse(text, what, bareUnit: 1);

    /// <summary>"10 GiB (10737418240 bytes)", as qemu-img writes a size.</summary>
    public static string DescribeSize(ulong bytes) => $"{HumanSize(bytes)} ({bytes} bytes)";

    /// <summary>A size in the largest binary unit that keeps it at least 1, with up to 3 significant digits ("196 KiB", "1.5 GiB").</summary>
    public static string HumanSize(ulong bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        var value = (double)bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? $"{bytes} {(bytes == 1 ? "byte" : "bytes")}"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value:0.###} {units[unit]}");
    }
}
