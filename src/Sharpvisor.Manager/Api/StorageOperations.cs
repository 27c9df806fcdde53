using System.Buffers;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;
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

    /// <summary>One change to the pools at a time: a delete's checks and its unlink, a new image's final rename.</summary>
    private readonly SemaphoreSlim _changes = new(1, 1);

    /// <summary>Every backing file a header names is held to a disk's rules before anything here opens it.</summary>
    private Func<string, SafeFileHandle?> BackingGuard =>
        VmHostChecks.BackingGuard(VmHostChecks.Checker(options.EffectiveStorageRoots, options.DataDirectory));

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
        var images = new List<ImageResource>();
        foreach (var file in ImageFiles(found))
        {
            try
            {
                images.Add(Describe(found, file, users));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Deleted meanwhile, or not readable by the manager: not an image it can offer.
            }
        }

        return images;
    }

    public async Task<ImageResource> GetImageAsync(string pool, string name, CancellationToken cancellationToken)
    {
        var found = Pool(pool);
        var path = ExistingImage(found, name);
        var users = await UsersAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Describe(found, path, users);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnknownStorageException($"pool '{found.Name}' has no image named '{name}' it can read: {e.Message}");
        }
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

        // Made under a hidden name beside it (a relative backing name resolves the same) and renamed into place whole.
        var staging = StagingPath(found, spec.Name!);
        try
        {
            if (format == DiskFormat.Qcow2)
            {
                Qcow2Image.Create(staging, (ulong)bytes, backingFile: backing);
            }
            else
            {
                using var file = new FileStream(staging, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                file.SetLength(bytes); // sparse: the blocks come as the guest writes
            }

            await PlaceAsync(found, staging, path, spec.Name!, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e.HResult == Enospc)
        {
            throw new ImageTooLargeException($"pool '{found.Name}' has no room for the image's metadata");
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException || (e is IOException && e is not FileNotFoundException))
        {
            throw new ApiValidationException("sizeBytes", $"the image could not be made: {e.Message}");
        }
        finally
        {
            File.Delete(staging);
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

        var staging = StagingPath(found, name);
        try
        {
            await WriteSparseAsync(staging, body, cancellationToken).ConfigureAwait(false);
            var uploaded = Describe(found, staging, Users.None);
            if (uploaded.Problem is { } problem)
            {
                throw new ApiValidationException("body", $"not an image this host can use: {problem}");
            }

            // A header may name any host file: an uploaded overlay's backing image must be one of this pool's.
            if (uploaded.BackingFile is { } backingName && !ImageName().IsMatch(backingName))
            {
                throw new ApiValidationException("body", $"its backing file '{backingName}' is not an image name of this pool (no directory); rebase it first: qemu-img rebase -u -b NAME");
            }

            await PlaceAsync(found, staging, path, name, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e.HResult == Enospc)
        {
            throw new ImageTooLargeException($"pool '{found.Name}' ran out of room during the upload");
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
        await _changes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var path = ExistingImage(found, name);
            var real = HostFile.RealPath(path) ?? path;
            if ((await UsersAsync(cancellationToken).ConfigureAwait(false)).Of(real) is [_, ..] users)
            {
                throw new ImageConflictException($"image '{name}' is a disk of {string.Join(", ", users.Select(u => $"'{u}'"))} (or below one): remove it from them first");
            }

            var guard = BackingGuard;
            if (ImageFiles(found).FirstOrDefault(other => other != path && ReadsBelow(other, real, guard)) is { } overlay)
            {
                throw new ImageConflictException($"image '{Path.GetFileName(overlay)}' of pool '{found.Name}' is an overlay over '{name}': delete it first");
            }

            File.Delete(path);
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>Renames a finished image into place, unless the name was taken meanwhile (409).</summary>
    private async Task PlaceAsync(StoragePool pool, string staging, string path, string name, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Path.Exists(path) || new FileInfo(path).LinkTarget is not null)
            {
                throw new ImageConflictException($"pool '{pool.Name}' has an image named '{name}' already");
            }

            File.Move(staging, path, overwrite: false);
        }
        finally
        {
            _changes.Release();
        }
    }

    private static string StagingPath(StoragePool pool, string name) => Path.Combine(pool.Path, $".{name}.upload-{Guid.NewGuid():N}");

    private StoragePool Pool(string name)
    {
        var pool = options.StoragePools.FirstOrDefault(p => p.Name == name)
            ?? throw new UnknownStorageException($"no storage pool named '{name}' (the pools: {string.Join(", ", options.StoragePools.Select(p => p.Name))})");
        // The data directory holds the token and the inventory: never a pool's files, whatever serve was given.
        return HostFile.RealPath(pool.Path) is { } real && HostFile.RealPath(options.DataDirectory) == real
            ? throw new ImageConflictException($"pool '{name}' is the manager's data directory, which holds its token and inventory: give serve another --storage-root")
            : pool;
    }

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
    private static bool ReadsBelow(string overlay, string real, Func<string, SafeFileHandle?> guard)
    {
        try
        {
            return ImageFormat.Probe(overlay) == DiskFormat.Qcow2
                && Qcow2Image.BackingFiles(overlay, guard).Any(b => (HostFile.RealPath(b.Path) ?? b.Path) == real);
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

        var guard = BackingGuard;
        foreach (var entry in await store.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
            foreach (var disk in entry.Definition.Disks)
            {
                Add(disk.Path, entry.Definition.Name);
                if (disk.FormatName == "qcow2")
                {
                    try
                    {
                        foreach (var (backing, _) in Qcow2Image.BackingFiles(disk.Path, guard))
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
