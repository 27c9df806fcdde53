using System.Runtime.InteropServices;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// Where a VMM runs when the manager can confine it (Firecracker's jailer, with util-linux's tools): a mount
/// namespace of its own whose root is an empty tmpfs holding only what it needs, each at its host path so no argument
/// changes — the system's libraries and the .NET runtime (read-only), its own kernel, initrd and disks, its own
/// directory of the run directory (its sockets, its exit file), and the devices /dev/kvm, /dev/net/tun, null, zero, random, urandom. No
/// /home, no /etc beyond the loader cache, no other VM's images. It keeps root's uid but no capability except
/// CAP_NET_ADMIN (only with a NIC, for its TAPs), with no_new_privs; its seccomp filter (VmmSyscallPolicy) then takes
/// mount, chroot, unshare, ptrace and exec away. unshare, chroot and setpriv exec one another, so the VMM keeps the pid
/// the supervisor started.
/// </summary>
public sealed class VmmJail
{
    private const string Script = """
        set -euf
        R=$SV_JAIL_ROOT
        mount -t tmpfs -o mode=0755,nosuid sharpvisor-jail "$R"
        bind() {
          [ -e "$1" ] || return 0  # a missing file stays missing: the VMM says so itself
          if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$R$(dirname "$1")"; [ -e "$R$1" ] || : >> "$R$1"; fi
          mount --bind "$1" "$R$1"
          if [ "$2" = ro ]; then mount -o remount,bind,ro "$R$1"; fi
        }
        for l in bin sbin lib lib32 lib64 libx32; do
          if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"; fi
        done
        mkdir -p "$R/tmp"
        mount -t tmpfs -o mode=1777,nosuid,nodev sharpvisor-jail-tmp "$R/tmp"
        IFS='
        '
        for p in $SV_JAIL_RO; do bind "$p" ro; done
        for p in $SV_JAIL_RW; do bind "$p" rw; done
        unset IFS
        exec chroot "$R" /usr/bin/setpriv --no-new-privs --inh-caps=-all --bounding-set="-all$SV_JAIL_CAPS" -- "$@"
        """;

    private static readonly string[] Tools = ["/usr/bin/unshare", "/usr/sbin/chroot", "/usr/bin/setpriv"];
    private static readonly string[] Devices = ["/dev/kvm", "/dev/net/tun", "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

    private VmmJail(string root, IReadOnlyList<string> readOnly, IReadOnlyList<string> readWrite, bool netAdmin)
    {
        Root = root;
        ReadOnly = readOnly;
        ReadWrite = readWrite;
        NetAdmin = netAdmin;
    }

    /// <summary>The empty directory the jail's tmpfs is mounted on (in the VMM's namespace only).</summary>
    public string Root { get; }

    public IReadOnlyList<string> ReadOnly { get; }

    public IReadOnlyList<string> ReadWrite { get; }

    public bool NetAdmin { get; }

    /// <summary>Null when this host cannot confine (the manager is not root, or a tool is missing): the VMM then runs with the manager's rights and its seccomp filter.</summary>
    public static string? Unavailable =>
        !System.Environment.IsPrivilegedProcess ? "the manager does not run as root (a mount namespace needs CAP_SYS_ADMIN)"
        : Tools.FirstOrDefault(t => !File.Exists(t)) is { } missing ? $"{missing} is missing (util-linux, coreutils)"
        : null;

    /// <summary>The jail of one VM: its files from <paramref name="definition"/> (paths already resolved), its own directory of the run directory, the VMM binary's own.</summary>
    public static VmmJail For(VmDefinition definition, string root, string vmDirectory, string executable)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var readOnly = new List<string> { "/usr" };
        readOnly.AddRange(new[] { "/lib", "/lib32", "/lib64", "/libx32" }.Where(d => Directory.Exists(d) && new DirectoryInfo(d).LinkTarget is null));
        readOnly.AddRange(new[] { "/etc/ld.so.cache", "/etc/localtime" }.Where(File.Exists));
        readOnly.Add(Path.GetDirectoryName(Path.GetFullPath(executable))!);
        if (RuntimeRoot() is { } runtime)
        {
            readOnly.Add(runtime);
        }

        readOnly.Add("/proc");
        readOnly.Add("/sys");
        if (definition.Kernel is { } kernel)
        {
            readOnly.Add(kernel);
        }

        if (definition.Initrd is { } initrd)
        {
            readOnly.Add(initrd);
        }

        readOnly.AddRange(definition.Disks.Where(d => d.ReadOnly).Select(d => d.Path));
        var readWrite = new List<string> { Path.GetFullPath(vmDirectory) };
        readWrite.AddRange(definition.Disks.Where(d => !d.ReadOnly).Select(d => d.Path));
        readWrite.AddRange(Devices.Where(File.Exists));
        return new VmmJail(root, [.. readOnly.Distinct(StringComparer.Ordinal)], [.. readWrite.Distinct(StringComparer.Ordinal)], definition.Nics.Count > 0);
    }

    /// <summary>The program and leading arguments that run <paramref name="executable"/> in the jail; the VMM's own arguments follow.</summary>
    public IReadOnlyList<string> Command(string executable) =>
        ["/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", Script, "sharpvisor-jail", executable];

    /// <summary>What the jail script reads from its environment (paths one per line: none holds a newline, see VmLimits).</summary>
    public IReadOnlyDictionary<string, string> Environment() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["SV_JAIL_ROOT"] = Root,
        ["SV_JAIL_RO"] = string.Join('\n', ReadOnly),
        ["SV_JAIL_RW"] = string.Join('\n', ReadWrite),
        ["SV_JAIL_CAPS"] = NetAdmin ? ",+net_admin" : "",
        ["DOTNET_EnableDiagnostics"] = "0", // no debugger pipes or diagnostic socket in the jail's /tmp
        ["DOTNET_ROOT"] = RuntimeRoot() ?? "",
    };

    /// <summary>The .NET installation this manager runs on (what a framework-dependent VMM needs), or null.</summary>
    private static string? RuntimeRoot()
    {
        // .../dotnet/shared/Microsoft.NETCore.App/10.0.x/ -> .../dotnet
        var framework = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(framework)));
        return root is not null && Directory.Exists(Path.Combine(root, "shared")) ? root : null;
    }
}
