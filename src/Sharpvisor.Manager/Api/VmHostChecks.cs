using System.Globalization;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;

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
    public static IReadOnlyList<ValidationProblem> Problems(VmDefinition definition, IReadOnlyList<string> storageRoots)
    {
        ArgumentNullException.ThrowIfNull(storageRoots);
        var roots = storageRoots.Select(HostFile.RealPath).OfType<string>().ToArray();
        var problems = new List<ValidationProblem>();
        void Check(string field, string? path)
        {
            if (path is not null && (FileProblem(path) ?? RootProblem(path, roots, storageRoots)) is { } problem)
            {
                problems.Add(new ValidationProblem(field, problem));
            }
        }

        Check("kernel", definition.Kernel);
        Check("initrd", definition.Initrd);
        for (var i = 0; i < definition.Disks.Count; i++)
        {
            Check(string.Create(CultureInfo.InvariantCulture, $"disks[{i}].path"), definition.Disks[i].Path);
        }

        return problems;
    }

    /// <summary>The definition with every file path replaced by its canonical path (checked already: each exists).</summary>
    public static VmDefinition WithRealPaths(VmDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        string Real(string path) => HostFile.RealPath(path) ?? path;
        return definition with
        {
            Kernel = definition.Kernel is { } kernel ? Real(kernel) : null,
            Initrd = definition.Initrd is { } initrd ? Real(initrd) : null,
            Disks = [.. definition.Disks.Select(d => d with { Path = Real(d.Path) })],
        };
    }

    /// <summary>Null when <paramref name="path"/>, resolved, is a root or lies below one of <paramref name="realRoots"/>.</summary>
    public static string? RootProblem(string path, IReadOnlyList<string> realRoots, IReadOnlyList<string> configuredRoots)
    {
        var real = HostFile.RealPath(path);
        if (real is not null && realRoots.Any(root => real.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal)))
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
