using System.Buffers;
using System.Text.RegularExpressions;
using Sharpvisor.Api;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The pools' images: list, describe, create, upload, download and delete, each held to the VMs that use them: an
/// image a VM's disk is, or reads below an overlay, is not deleted, and one a running VM writes is not downloaded.
/// An image is a regular file directly in its pool's directory; links, subdirectories and hidden files are not listed
/// (an upload in progress is a hidden file, renamed into place once whole).
/// </summary>
public sealed partial class StorageOperations(IVmStore store, ManagerOptions options)
{
    /// <summary>The largest virtual size an image made here may have (1 PiB).</summary>
    public const long MaxSizeBytes = 1L << 50;

    private const int CopyBlock = 64 * 1024;

    public IReadOnlyList<PoolResource> ListPools() =>
        options.StoragePools.Select(pool =>
        {
            var room = HostFacts.StorageRoot(pool.Path);
            return new PoolResource
            {
                Name = pool.Name,
                Path = pool.Path,
                FreeBytes = room.FreeBytes,
                TotalBytes = room.TotalBytes,
                ImageCount = ImageFiles(pool).Count(),
            };
        }).ToList();

    public async Task<IReadOnlyList<ImageResource>> ListImagesAsync(string pool, CancellationToken cancellationToken)
    {
        var found = Pool(pool);
        var users = await UsersAsync(cancellationToken).ConfigureAwait(false);
        return ImageFiles(found).Select(file => Describe(found, file, users)).ToList();
    }

    public async Task<ImageResource> GetImageAsync(string pool, string name, CancellationToken cancellationToken)
    {
        var found = Pool(pool);
        var path = ExistingImage(found, name);
        return Describe(found, path, await UsersAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>A new empty image, or a qcow2 overlay over another image of the pool; 409 when the name is taken.</summary>
    public async Task<ImageResource> CreateAsync(string pool, ImageSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var found = Pool(pool);
        var path = NewImagePath(found, spec.Name, "name");
        var format = spec.Format is null ? DiskFormat.Qcow2
            : ImageFormat.FromName(spec.Format) ?? throw new ApiValidationException("format", "must be qcow2 or raw");
        string? backing = null;
        var size = spec.SizeBytes;
        if (spec.Backing is not null)
        {
            if (format != DiskFormat.Qcow2)
            {
                throw new ApiValidationException("backing", "only a qcow2 image has a backing image");
            }

            var backingPath = ExistingImage(found, spec.Backing, "backing");
            backing = Path.GetFileName(backingPath); // beside it: the pair moves together
            size ??= VirtualSize(backingPath) ?? throw new ApiValidationException("backing", $"image '{spec.Backing}' cannot be read as a disk");
        }

        if (size is not { } bytes || bytes <= 0 || bytes % 512 != 0 || bytes > MaxSizeBytes)
        {
            throw new ApiValidationException("sizeBytes", $"must be a multiple of 512 from 512 to {MaxSizeBytes} (1 PiB)");
        }

        try
        {
            if (format == DiskFormat.Qcow2)
            {
                Qcow2Image.Create(path, (ulong)bytes, backingFile: backing);
            }
            else
            {
                using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                file.SetLength(bytes); // sparse: the blocks come as the guest writes
            }
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new ImageConflictException($"pool '{found.Name}' has an image named '{spec.Name}' already");
        }

        return Describe(found, path, await UsersAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Writes <paramref name="body"/> as a new image (sparse: blocks of zeros are skipped), checked before it appears:
    /// a qcow2 image whose header does not hold is refused (400). 413 when the pool has no room, 409 when the name is taken.
    /// </summary>
    public async Task<ImageResource> UploadAsync(string pool, string name, Stream body, long? length, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var found = Pool(pool);
        var path = NewImagePath(found, name, "name");
        var free = HostFacts.StorageRoot(found.Path).FreeBytes;
        if (length > free)
        {
            throw new ImageTooLargeException($"the image is {length} bytes; pool '{found.Name}' has {free} bytes free");
        }

        var staging = Path.Combine(found.Path, $".{name}.upload-{Guid.NewGuid():N}");
        try
        {
            await WriteSparseAsync(staging, body, cancellationToken).ConfigureAwait(false);
            if (Describe(found, staging, Users.None).Problem is { } problem)
            {
                throw new ApiValidationException("body", $"not an image this host can use: {problem}");
            }

            File.Move(staging, path, overwrite: false);
        }
        catch (IOException e) when (e.HResult == Enospc)
        {
            throw new ImageTooLargeException($"pool '{found.Name}' ran out of room during the upload");
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new ImageConflictException($"pool '{found.Name}' has an image named '{name}' already");
        }
        finally
        {
            File.Delete(staging); // nothing there once moved
        }

        return Describe(found, path, await UsersAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The file to send for a download; 409 while a running VM writes it (the copy would be torn).</summary>
    public async Task<string> DownloadPathAsync(string pool, string name, CancellationToken cancellationToken)
    {
        var path = ExistingImage(Pool(pool), name);
        var real = HostFile.RealPath(path) ?? path;
        foreach (var entry in await store.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
            if (VmMapping.IsActive(entry.State.State) && entry.Definition.Disks.Any(d => !d.ReadOnly && (HostFile.RealPath(d.Path) ?? d.Path) == real))
            {
                throw new ImageConflictException($"VM '{entry.Definition.Name}' is running and writes image '{name}': stop it first, or snapshot it");
            }
        }

        return path;
    }

    /// <summary>Deletes the image; 409 while a VM uses it or another image of the pool is an overlay over it.</summary>
    public async Task DeleteAsync(string pool, string name, CancellationToken cancellationToken)
    {
        var found = Pool(pool);
        var path = ExistingImage(found, name);
        var real = HostFile.RealPath(path) ?? path;
        if ((await UsersAsync(cancellationToken).ConfigureAwait(false)).Of(real) is [_, ..] users)
        {
            throw new ImageConflictException($"image '{name}' is a disk of {string.Join(", ", users.Select(u => $"'{u}'"))} (or below one): remove it from them first");
        }

        if (ImageFiles(found).FirstOrDefault(other => other != path && ReadsBelow(other, real)) is { } overlay)
        {
            throw new ImageConflictException($"image '{Path.GetFileName(overlay)}' of pool '{found.Name}' is an overlay over '{name}': delete it first");
        }

        File.Delete(path);
    }

    private StoragePool Pool(string name) =>
        options.StoragePools.FirstOrDefault(p => p.Name == name)
        ?? throw new UnknownStorageException($"no storage pool named '{name}' (the pools: {string.Join(", ", options.StoragePools.Select(p => p.Name))})");

    private static string ExistingImage(StoragePool pool, string? name, string field = "name")
    {
        var path = ImagePathOf(pool, name, field);
        return IsImage(path) ? path : throw new UnknownStorageException($"pool '{pool.Name}' has no image named '{name}'");
    }

    private static string NewImagePath(StoragePool pool, string? name, string field)
    {
        var path = ImagePathOf(pool, name, field);
        return !Path.Exists(path) && new FileInfo(path).LinkTarget is null
            ? path
            : throw new ImageConflictException($"pool '{pool.Name}' has an image named '{name}' already");
    }

    private static string ImagePathOf(StoragePool pool, string? name, string field) =>
        name is not null && ImageName().IsMatch(name)
            ? Path.Combine(pool.Path, name)
            : throw new ApiValidationException(field, "must be 1 to 128 of letters, digits, '.', '_' and '-', starting with a letter or digit");

    private static IEnumerable<string> ImageFiles(StoragePool pool)
    {
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(pool.Path).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // a pool whose directory went away lists nothing rather than failing every page that shows pools
        }

        return files.Where(f => ImageName().IsMatch(Path.GetFileName(f)) && IsImage(f));
    }

    /// <summary>A regular file, not a link (a link could lead a download anywhere on the host).</summary>
    private static bool IsImage(string path) => HostFile.KindOf(path) == HostFileKind.Regular && new FileInfo(path).LinkTarget is null;

    private static ImageResource Describe(StoragePool pool, string path, Users users)
    {
        var length = new FileInfo(path).Length;
        var format = ImageFormat.Probe(path);
        long virtualSize = length;
        string? backing = null, problem = null;
        if (format == DiskFormat.Qcow2)
        {
            try
            {
                var info = Qcow2Image.ReadInfo(path);
                virtualSize = (long)Math.Min(info.VirtualSize, long.MaxValue);
                backing = info.BackingFile;
            }
            catch (Exception e) when (e is Qcow2FormatException or NotSupportedException or IOException or UnauthorizedAccessException)
            {
                problem = e.Message;
                virtualSize = 0;
            }
        }

        return new ImageResource
        {
            Name = Path.GetFileName(path),
            Pool = pool.Name,
            Path = path,
            Format = ImageFormat.Name(format),
            VirtualSizeBytes = virtualSize,
            ActualSizeBytes = HostFile.AllocatedBytes(path) ?? length,
            BackingFile = backing,
            UsedBy = users.Of(HostFile.RealPath(path) ?? path),
            Problem = problem,
        };
    }

    private static long? VirtualSize(string path)
    {
        try
        {
            return ImageFormat.Probe(path) == DiskFormat.Qcow2 ? (long)Math.Min(Qcow2Image.ReadInfo(path).VirtualSize, long.MaxValue) : new FileInfo(path).Length;
        }
        catch (Exception e) when (e is Qcow2FormatException or NotSupportedException or IOException)
        {
            return null;
        }
    }

    /// <summary>Whether the qcow2 image at <paramref name="overlay"/> reads <paramref name="real"/> anywhere down its chain.</summary>
    private static bool ReadsBelow(string overlay, string real)
    {
        try
        {
            return ImageFormat.Probe(overlay) == DiskFormat.Qcow2
                && Qcow2Image.BackingFiles(overlay).Any(b => (HostFile.RealPath(b.Path) ?? b.Path) == real);
        }
        catch (Exception e) when (e is Qcow2FormatException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            return false; // a chain that cannot be read cannot run either
        }
    }

    /// <summary>Every VM's disks, and each qcow2 disk's backing files, by real path: who uses which file.</summary>
    private async Task<Users> UsersAsync(CancellationToken cancellationToken)
    {
        var users = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        void Add(string path, string vm)
        {
            var real = HostFile.RealPath(path) ?? path;
            if (!users.TryGetValue(real, out var names))
            {
                users[real] = names = new SortedSet<string>(StringComparer.Ordinal);
            }

            names.Add(vm);
        }

        foreach (var entry in await store.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
            foreach (var disk in entry.Definition.Disks)
            {
                Add(disk.Path, entry.Definition.Name);
                if (disk.FormatName == "qcow2")
                {
                    try
                    {
                        foreach (var (backing, _) in Qcow2Image.BackingFiles(disk.Path))
                        {
                            Add(backing, entry.Definition.Name);
                        }
                    }
                    catch (Exception e) when (e is Qcow2FormatException or NotSupportedException or IOException or UnauthorizedAccessException)
                    {
                        // A disk whose chain cannot be read holds nothing below it: it cannot start either.
                    }
                }
            }
        }

        return new Users(users);
    }

    private static async Task WriteSparseAsync(string path, Stream body, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * CopyBlock);
        try
        {
            await using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            long total = 0;
            while (true)
            {
                var read = await body.ReadAtLeastAsync(buffer.AsMemory(0, 16 * CopyBlock), 16 * CopyBlock, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                for (var offset = 0; offset < read;)
                {
                    var count = Math.Min(CopyBlock, read - offset);
                    var block = buffer.AsMemory(offset, count);
                    if (block.Span.ContainsAnyExcept((byte)0))
                    {
                        file.Position = total + offset;
                        await file.WriteAsync(block, cancellationToken).ConfigureAwait(false);
                    }

                    offset += count;
                }

                total += read;
            }

            file.SetLength(total);
            file.Flush(flushToDisk: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const int Enospc = 28;

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\z")]
    private static partial Regex ImageName();

    /// <summary>The VMs using each file, by real path.</summary>
    private sealed class Users(Dictionary<string, SortedSet<string>> byPath)
    {
        public static Users None { get; } = new([]);

        public IReadOnlyList<string> Of(string realPath) => byPath.TryGetValue(realPath, out var names) ? [.. names] : [];
    }
}
