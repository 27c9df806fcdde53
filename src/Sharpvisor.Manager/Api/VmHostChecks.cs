using System.Globalization;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// What a definition names on this host, checked when the API takes it: a kernel, an initrd or a disk that is
/// missing, a directory or a device node can never run, so it is refused then, not when the VM fails to start.
/// The store does not check this: with a shared PostgreSQL the inventory outlives any one host's files.
/// </summary>
internal static class VmHostChecks
{
    public static IReadOnlyList<ValidationProblem> Problems(VmDefinition definition)
    {
        var problems = new List<ValidationProblem>();
        void Check(string field, string? path)
        {
            if (path is not null && FileProblem(path) is { } problem)
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
