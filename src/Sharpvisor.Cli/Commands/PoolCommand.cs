using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Sharpvisor.Api;
using Sharpvisor.Cli.Remote;

namespace Sharpvisor.Cli.Commands;

/// <summary><c>sharpvisor pool ...</c>: a daemon's storage pools and their images, over its REST API (docs/storage.md).</summary>
internal static class PoolCommand
{
    public const string Subcommands = "list, images, create-image, upload, download, delete-image";

    public static int Execute(string[] args)
    {
        if (args.Length > 0 && args[0] is "--help" or "-h")
        {
            throw new HelpRequestedException();
        }

        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            throw new UsageException($"pool needs a subcommand: {Subcommands} (try 'sharpvisor help pool')");
        }

        var rest = args[1..];
        return args[0] switch
        {
            "list" => List(rest),
            "images" => Images(rest),
            "create-image" => CreateImage(rest),
            "upload" => Upload(rest),
            "download" => Download(rest),
            "delete-image" => DeleteImage(rest),
            var other => throw new UsageException(Help.Nearest(other, Help.PoolSubcommands) is { } nearest
                ? $"unknown pool subcommand '{other}' (did you mean '{nearest}'?)"
                : $"unknown pool subcommand '{other}' (expected {Subcommands})"),
        };
    }

    private static string ImagesPath(string pool, string? image = null, string? tail = null) =>
        $"api/v1/pools/{Uri.EscapeDataString(pool)}/images{(image is null ? "" : "/" + Uri.EscapeDataString(image))}{(tail is null ? "" : "/" + tail)}";

    private static int List(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 0);
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, "api/v1/pools", ApiJsonContext.Default.IReadOnlyListPoolResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : Table(
                ["NAME", "IMAGES", "FREE", "SIZE", "PATH"],
                answer.Value.Select(p => new[] { p.Name, p.ImageCount.ToString(CultureInfo.InvariantCulture), Size(p.FreeBytes), Size(p.TotalBytes), p.Path })));
            return ExitCodes.Success;
        });
    }

    private static int Images(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var pool = RemoteCommand.Positional(options, 0, "the pool");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, ImagesPath(pool), ApiJsonContext.Default.IReadOnlyListImageResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : Table(
                ["NAME", "FORMAT", "SIZE", "ON DISK", "BACKING", "USED BY"],
                answer.Value.Select(i => new[]
                {
                    i.Name, i.Problem is null ? i.Format : $"{i.Format} (unreadable: {i.Problem})", Size(i.VirtualSizeBytes), Size(i.ActualSizeBytes),
                    i.BackingFile ?? "-", i.UsedBy.Count == 0 ? "-" : string.Join(",", i.UsedBy),
                })));
            return ExitCodes.Success;
        });
    }

    private static int CreateImage(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--format", "--backing"], [], positionals: 3);
        var pool = RemoteCommand.Positional(options, 0, "the pool");
        var name = RemoteCommand.Positional(options, 1, "the image's name");
        long? size = options.Positionals.Count > 2 ? checked((long)ImageCommand.Size(options.Positionals[2], "SIZE")) : null;
        if (size is null && options.Get("--backing") is null)
        {
            throw new UsageException("missing SIZE (it may be left out only with --backing)");
        }

        var spec = new ImageSpec { Name = name, Format = options.Get("--format"), SizeBytes = size, Backing = options.Get("--backing") };
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Post, ImagesPath(pool), ApiJsonContext.Default.ImageResource, ApiClient.Json(spec, ApiJsonContext.Default.ImageSpec)).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : $"{pool}/{answer.Value.Name}: {answer.Value.Format}, {Size(answer.Value.VirtualSizeBytes)}, created");
            return ExitCodes.Success;
        });
    }

    private static int Upload(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--name"], ["--progress"], positionals: 2);
        var pool = RemoteCommand.Positional(options, 0, "the pool");
        var file = RemoteCommand.Positional(options, 1, "the image file to upload");
        var name = options.Get("--name") ?? Path.GetFileName(file);
        if (!File.Exists(file))
        {
            return Program.Fail(ExitCodes.RuntimeError, $"'{file}' is not a file this user can read");
        }

        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            await using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var progress = ProgressBar.For("uploading", options.Has("--progress"));
            using var content = new StreamContent(new ProgressStream(source, (ulong)source.Length, progress), 1 << 20);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = source.Length;
            var answer = await api.SendAsync(HttpMethod.Put, ImagesPath(pool, name), ApiJsonContext.Default.ImageResource, content).ConfigureAwait(false);
            progress.Finish();
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : $"{pool}/{answer.Value.Name}: {answer.Value.Format}, {Size(answer.Value.VirtualSizeBytes)}, uploaded");
            return ExitCodes.Success;
        });
    }

    private static int Download(string[] args)
    {
        var options = RemoteCommand.Read(args, [], ["--progress"], positionals: 3);
        var pool = RemoteCommand.Positional(options, 0, "the pool");
        var image = RemoteCommand.Positional(options, 1, "the image");
        var file = RemoteCommand.Positional(options, 2, "the file to write");
        if (Path.Exists(file))
        {
            return Program.Fail(ExitCodes.RuntimeError, $"'{file}' exists already: it is not overwritten");
        }

        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var progress = ProgressBar.For("downloading", options.Has("--progress"));
            var bytes = await api.DownloadAsync(ImagesPath(pool, image, "content"), file, (done, total) => progress.Report(done, total)).ConfigureAwait(false);
            progress.Finish();
            RemoteCommand.Print($"{pool}/{image}: {bytes} bytes written to {file}");
            return ExitCodes.Success;
        });
    }

    private static int DeleteImage(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 2);
        var pool = RemoteCommand.Positional(options, 0, "the pool");
        var image = RemoteCommand.Positional(options, 1, "the image");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            await api.SendAsync(HttpMethod.Delete, ImagesPath(pool, image)).ConfigureAwait(false);
            RemoteCommand.Print($"{pool}/{image}: deleted");
            return ExitCodes.Success;
        });
    }

    private static string Size(long bytes) => ImageCommand.HumanSize((ulong)Math.Max(0, bytes));

    private static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in all)
        {
            text.AppendJoin("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>A read-only view of a stream that reports how far it has been read.</summary>
    private sealed class ProgressStream(Stream inner, ulong total, ProgressBar progress) : Stream
    {
        private ulong _done;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Counted(int read)
        {
            _done += (ulong)read;
            progress.Report(_done, total);
            return read;
        }
    }
}
