using System.Text;
using System.Text.Json;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor image info</c>: an image's format, sizes and backing file, as text or as the JSON of
/// <c>qemu-img info --output=json</c> (the fields both know, with qemu-img's names), so scripts for one work with the other.
/// </summary>
internal static class ImageInfoCommand
{
    public static readonly HashSet<string> ValueOptions = ["--output", "--format"];

    public static readonly HashSet<string> FlagOptions = ["--backing-chain"];

    /// <summary>One level of an image's description.</summary>
    private sealed record Level(
        string Filename,
        DiskFormat Format,
        ulong VirtualSize,
        long ActualSize,
        Qcow2Info? Qcow2,
        string? FullBackingFilename,
        DiskFormat? BackingFormat);

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, FlagOptions, maxPositionals: 1);
        var path = ImageCommand.Positional(options, 0, "an image file", "info");
        var json = options.Get("--output") switch
        {
            null or "human" => false,
            "json" => true,
            var other => throw new UsageException($"--output '{other}': use human or json"),
        };
        var levels = Describe(path, ImageCommand.Format(options, "--format"), options.Has("--backing-chain"));
        Console.Out.Write(json ? Json(levels, options.Has("--backing-chain")) : Text(levels));
        Console.Out.Flush();
        return ExitCodes.Success;
    }

    /// <summary>The image, then (with <paramref name="chain"/>) each backing file in turn; a loop or a chain deeper than 64 is refused.</summary>
    private static List<Level> Describe(string path, DiskFormat? format, bool chain)
    {
        var levels = new List<Level>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var next = (Path: path, Format: format); ;)
        {
            ImageCommand.RequireFile(next.Path);
            if (!seen.Add(Path.GetFullPath(next.Path)) || levels.Count > 64)
            {
                throw new IOException($"backing chain of {path} loops or is deeper than 64 images (at {next.Path})");
            }

            var level = DescribeOne(next.Path, next.Format);
            levels.Add(level);
            if (!chain || level.FullBackingFilename is null)
            {
                return levels;
            }

            next = (level.FullBackingFilename, level.BackingFormat);
        }
    }

    private static Level DescribeOne(string path, DiskFormat? format)
    {
        var actual = format ?? ImageFormat.Probe(path);
        var allocated = HostFile.AllocatedBytes(path) ?? new FileInfo(path).Length;
        if (actual == DiskFormat.Raw)
        {
            return new Level(path, actual, (ulong)new FileInfo(path).Length, allocated, null, null, null);
        }

        var info = Qcow2Image.ReadInfo(path);
        string? full = null;
        DiskFormat? backingFormat = null;
        if (info.BackingFile is { } backing)
        {
            // As qemu-img combines them: the backing name relative to the directory of the image's name as given.
            full = Path.IsPathRooted(backing) || Path.GetDirectoryName(path) is not { Length: > 0 } directory
                ? backing
                : Path.Combine(directory, backing);
            backingFormat = info.BackingFormat is { } name ? ImageFormat.FromName(name) : null;
        }

        return new Level(path, actual, info.VirtualSize, allocated, info, full, backingFormat);
    }

    private static string Text(List<Level> levels)
    {
        var text = new StringBuilder();
        foreach (var level in levels)
        {
            if (text.Length > 0)
            {
                text.Append('\n');
            }

            text.Append($"image: {level.Filename}\n");
            text.Append($"file format: {ImageFormat.Name(level.Format)}\n");
            text.Append($"virtual size: {ImageCommand.DescribeSize(level.VirtualSize)}\n");
            text.Append($"disk size: {ImageCommand.HumanSize((ulong)level.ActualSize)}\n");
            if (level.Qcow2 is not { } q)
            {
                continue;
            }

            text.Append($"cluster_size: {q.ClusterSize}\n");
            if (q.BackingFile is { } backing)
            {
                text.Append(backing == level.FullBackingFilename
                    ? $"backing file: {backing}\n"
                    : $"backing file: {backing} (actual path: {level.FullBackingFilename})\n");
                if (q.BackingFormat is { } backingFormat)
                {
                    text.Append($"backing file format: {backingFormat}\n");
                }
            }

            text.Append($"compat: {Compat(q)}\n");
            text.Append($"refcount bits: {q.RefcountBits}\n");
            text.Append($"dirty flag: {(q.IsDirty ? "yes" : "no")}\n");
            text.Append($"corrupt: {(q.IsCorrupt ? "yes" : "no")}\n");
            if (q.SnapshotCount > 0)
            {
                text.Append($"internal snapshots: {q.SnapshotCount}\n");
            }
        }

        return text.ToString();
    }

    /// <summary>qemu-img's JSON: one object, or with --backing-chain an array of one per level.</summary>
    private static string Json(List<Level> levels, bool chain)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            if (chain)
            {
                json.WriteStartArray();
            }

            foreach (var level in levels)
            {
                WriteLevel(json, level);
            }

            if (chain)
            {
                json.WriteEndArray();
            }
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void WriteLevel(Utf8JsonWriter json, Level level)
    {
        json.WriteStartObject();
        json.WriteNumber("virtual-size", level.VirtualSize);
        json.WriteString("filename", level.Filename);
        if (level.Qcow2 is { } q)
        {
            json.WriteNumber("cluster-size", q.ClusterSize);
        }

        json.WriteString("format", ImageFormat.Name(level.Format));
        json.WriteNumber("actual-size", level.ActualSize);
        if (level.Qcow2 is { } info)
        {
            json.WriteStartObject("format-specific");
            json.WriteString("type", "qcow2");
            json.WriteStartObject("data");
            json.WriteString("compat", Compat(info));
            json.WriteString("compression-type", "zlib");
            json.WriteNumber("refcount-bits", info.RefcountBits);
            json.WriteBoolean("corrupt", info.IsCorrupt);
            json.WriteEndObject();
            json.WriteEndObject();
            if (info.BackingFile is { } backing)
            {
                json.WriteString("full-backing-filename", level.FullBackingFilename);
                json.WriteString("backing-filename", backing);
                if (info.BackingFormat is { } backingFormat)
                {
                    json.WriteString("backing-filename-format", backingFormat);
                }
            }
        }

        json.WriteBoolean("dirty-flag", level.Qcow2?.IsDirty ?? false);
        json.WriteEndObject();
    }

    private static string Compat(Qcow2Info info) => info.Version >= 3 ? "1.1" : "0.10";
}
