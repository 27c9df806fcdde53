using Microsoft.Win32.SafeHandles;
using System.Globalization;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// What a definition names on this host, checked when the API takes it: a kernel, an initrd or a disk that is
/// missing, a directory or a device node can never run, so it is refused then, not when the VM fails to start.
/// Every such file must also lie under one of the storage roots once every symbolic link is resolved: an API client
/// must not make a VM of <c>/etc/shadow</c> or of the manager's own database (the VMM reads and writes what it is
/// given). The store does not check this: with a shared PostgreSQL the inventory outlives any one host's files.
/// </summary>
internal static class VmHostChecks
{
    public static IReadOnlyList<ValidationProblem> Problems(VmDefinition definition, IReadOnlyList<string> storageRoots, string? dataDirectory = null) =>
        Resolve(definition, storageRoots, dataDirectory).Problems;

    /// <summary>
    /// Checks every file <paramref name="definition"/> names and returns it with each path resolved (realpath(3)) once,
    /// the value that was checked: the VMM is given that, so no second resolution can land somewhere else.
    /// Nothing inside <paramref name="dataDirectory"/> (the token, the database, the run directory) may be used,
    /// whatever the roots, except the default images directory.
    /// </summary>
    public static (VmDefinition Resolved, IReadOnlyList<ValidationProblem> Problems) Resolve(VmDefinition definition, IReadOnlyList<string> storageRoots, string? dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(storageRoots);
        var problemOf = Checker(storageRoots, dataDirectory);
        var guard = BackingGuard(problemOf);
        var problems = new List<ValidationProblem>();
        string? Check(string field, string? path, string? backingOf = null)
        {
            if (path is null)
            {
                return null;
            }

            var real = HostFile.RealPath(path);
            var problem = problemOf(path);
            if (problem is not null)
            {
                problems.Add(new ValidationProblem(field, backingOf is null ? problem : $"a backing file of '{backingOf}': {problem}"));
            }

            return real ?? path;
        }

        var kernel = Check("kernel", definition.Kernel);
        var initrd = Check("initrd", definition.Initrd);
        var disks = definition.Disks.Select((d, i) =>
        {
            var field = string.Create(CultureInfo.InvariantCulture, $"disks[{i}].path");
            var count = problems.Count;
            var resolved = d with { Path = Check(field, d.Path)! };
            if (problems.Count > count || d.FormatName != "qcow2")
            {
                return resolved;
            }

            var (backing, problem) = BackingFiles(resolved.Path, guard);
            if (problem is not null)
            {
                problems.Add(new ValidationProblem(field, problem));
            }

            foreach (var file in backing)
            {
                Check(field, file, resolved.Path); // the VMM reads it: a regular file under the storage roots, as the disk itself
            }

            return resolved with { BackingFiles = backing };
        }).ToList();
        return (definition with { Kernel = kernel, Initrd = initrd, Disks = disks }, problems);
    }

    /// <summary>
    /// The backing files of the qcow2 image at <paramref name="path"/>, each by the path the VMM's open will use
    /// (a launcher opens them for a confined VMM under that name), or why the image cannot be opened as qcow2.
    /// </summary>
    private static (IReadOnlyList<string> Files, string? Problem) BackingFiles(string path, Func<string, SafeFileHandle?> guard)
    {
        try
        {
            if (ImageFormat.Probe(path) != DiskFormat.Qcow2)
            {
                return ([], $"'{path}' is not a qcow2 image; give its format as raw");
            }

            return ([.. Qcow2Image.BackingFiles(path, guard).Select(b => b.Path)], null);
        }
        catch (BackingFileRefusedException e)
        {
            return ([], $"a backing file of '{path}': {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or Qcow2FormatException)
        {
            return ([], $"'{path}': {e.Message}");
        }
    }

    /// <summary>
    /// A check of a path: why the manager may not use it as a VM's file (not a regular file, outside the storage
    /// roots once resolved, inside the data directory but for its images), or null when it may.
    /// </summary>
    public static Func<string, string?> Checker(IReadOnlyList<string> storageRoots, string? dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(storageRoots);
        var roots = storageRoots.Select(HostFile.RealPath).OfType<string>().ToArray();
        var data = dataDirectory is null ? null : HostFile.RealPath(dataDirectory);
        var images = dataDirectory is null ? null : HostFile.RealPath(Path.Combine(dataDirectory, "images"));
        return path =>
        {
            var real = HostFile.RealPath(path);
            var problem = FileProblem(path) ?? RootProblem(path, real, roots, storageRoots);
            return problem is null && real is not null && data is not null && Below(real, data) && !(images is not null && Below(real, images))
                ? $"'{path}' is inside the manager's data directory {dataDirectory}, which holds its token and inventory"
                : problem;
        };
    }

    /// <summary>
    /// The hook for <see cref="Qcow2Image.BackingFiles"/> that holds each backing file to <paramref name="problemOf"/>
    /// before anything opens it: a header (an upload's, a guest's) may name a FIFO, a device or any host file.
    /// </summary>
    public static Func<string, SafeFileHandle?> BackingGuard(Func<string, string?> problemOf)
    {
        ArgumentNullException.ThrowIfNull(problemOf);
        return path => problemOf(path) is { } problem ? throw new BackingFileRefusedException(problem) : null;
    }

    /// <summary>A backing file a header names that the manager may not use (<see cref="BackingGuard"/>).</summary>
    public sealed class BackingFileRefusedException(string problem) : IOException(problem);

    private static bool Below(string path, string directory) =>
        path.StartsWith(directory.EndsWith('/') ? directory : directory + "/", StringComparison.Ordinal);

    /// <summary>Null when <paramref name="path"/>, resolved (<paramref name="real"/>, null when it cannot be), is a root or lies below one of <paramref name="realRoots"/>.</summary>
    public static string? RootProblem(string path, string? real, IReadOnlyList<string> realRoots, IReadOnlyList<string> configuredRoots)
    {
        if (real is not null && realRoots.Any(root => Below(real, root)))
        {
            return null;
        }

        var where = configuredRoots.Count == 0 ? "(none is configured)" : string.Join(", ", configuredRoots);
        return real is not null && real != path
            ? $"'{path}' resolves to '{real}', which is outside the storage roots {where}"
            : $"'{path}' is outside the storage roots {where}; put the image under one of them or start serve with --storage-root DIR";
    }

    /// <summary>Why the manager (and so the VMM it starts) cannot use <paramref name="path"/> as a file; null when it can.</summary>
    public static string? FileProblem(string path) => HostFile.KindOf(path) switch
    {
        HostFileKind.Regular => File.Exists(path) ? null : $"'{path}' cannot be read by the manager",
        HostFileKind.Missing => $"'{path}' does not exist on this host",
        HostFileKind.Directory => $"'{path}' is a directory, not a file",
        HostFileKind.BlockDevice or HostFileKind.CharacterDevice => $"'{path}' is a device node; give a regular file (a raw image)",
        HostFileKind.NoAccess => $"'{path}' cannot be reached: the manager may not search a directory on its way",
        _ => $"'{path}' is a FIFO or a socket, not a regular file",
    };
}
