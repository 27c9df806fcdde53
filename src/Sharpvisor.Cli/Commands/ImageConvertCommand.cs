using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor image convert</c>: the guest-visible bytes of an image (its backing chain flattened) into a new raw or
/// qcow2 image. Only what may hold data is read (holes of a raw file, unallocated and zero clusters of a qcow2 chain
/// are skipped), and all-zero chunks are not written, so the output is sparse: unallocated clusters in qcow2, holes in raw.
/// </summary>
internal static class ImageConvertCommand
{
    public static readonly HashSet<string> ValueOptions = ["--format", "--output-format", "--cluster-size"];

    public static readonly HashSet<string> FlagOptions = ["--progress"];

    // The chunk for raw output and the zero test's unit: qcow2's default cluster size.
    private const int RawChunk = 64 << 10;

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, FlagOptions, maxPositionals: 2);
        var source = ImageCommand.Positional(options, 0, "a source image", "convert");
        var destination = ImageCommand.Positional(options, 1, "a destination file", "convert");
        var sourceFormat = ImageCommand.Format(options, "--format");
        var outputFormat = ImageCommand.Format(options, "--output-format") ?? DiskFormat.Raw;
        var clusterBits = options.Get("--cluster-size") is { } clusterText ? ClusterBits(clusterText) : 16;
        if (outputFormat == DiskFormat.Raw && options.Has("--cluster-size"))
        {
            throw new UsageException("--cluster-size needs -O qcow2");
        }

        ImageCommand.RequireFile(source);
        ImageCommand.RefuseExisting(destination);
        // The source's holes from the host (SEEK_DATA): a raw image of 1 TiB with 1 GiB written reads 1 GiB.
        using var input = Images.Open(source, sourceFormat ?? ImageFormat.Probe(source), readOnly: true, HostFile.NextData);
        var progress = ProgressBar.For("converting", options.Has("--progress"));
        var created = false;
        try
        {
            if (outputFormat == DiskFormat.Qcow2)
            {
                // qcow2 counts whole sectors: a raw source of another length gets a zero-filled last sector.
                Qcow2Image.Create(destination, checked((input.Size + 511) / 512 * 512), clusterBits);
                created = true;
                using var output = Qcow2Image.Open(destination, readOnly: false);
                ImageCopy.Copy(input, output.Size, (int)output.ClusterSize, (offset, chunk) => output.Write(offset, chunk), progress.Report);
                output.Flush();
            }
            else
            {
                using var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                created = true;
                RandomAccess.SetLength(output, checked((long)input.Size));
                ImageCopy.Copy(input, input.Size, RawChunk, (offset, chunk) => RandomAccess.Write(output, chunk, offset), progress.Report);
                RandomAccess.FlushToDisk(output);
            }
        }
        catch
        {
            // Half an image is worse than none: it would look like a finished conversion.
            progress.Finish();
            if (created)
            {
                File.Delete(destination);
            }

            throw;
        }

        progress.Finish();
        return ExitCodes.Success;
    }

    private static int ClusterBits(string text)
    {
        var bytes = ImageCommand.Size(text, "--cluster-size");
        if (!System.Numerics.BitOperations.IsPow2(bytes) || bytes < 512 || bytes > 2UL << 20)
        {
            throw new UsageException($"--cluster-size '{text}' must be a power of two from 512 to 2M");
        }

        return System.Numerics.BitOperations.Log2(bytes);
    }
}
