using System.Runtime.InteropServices;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// Where a VMM runs when the manager can confine it (Firecracker's jailer, with util-linux's tools): a mount
/// namespace of its own whose root is an empty tmpfs holding only what it needs, each at its host path so no argument
/// changes — the system's libraries and the .NET runtime (read-only), its own kernel, initrd and disks, its own
/// directory of the run directory (its sockets, its exit file), and the devices null, zero, random, urandom. No
/// /home, no /etc beyond the loader cache, no other VM's images. It runs as a uid and gid of its own (VmmUids), with
/// no supplementary group and no capability except CAP_NET_ADMIN (only with a NIC, for its TAPs), with no_new_privs;
/// the jail opens /dev/kvm, the kernel, initrd and disks for it as root (locked as .NET locks them) and names the
/// descriptors in SHARPVISOR_INHERITED_FDS, since that uid may not open them. Its seccomp filter (VmmSyscallPolicy)
/// then takes mount, chroot, unshare, ptrace and exec away. unshare, bash, chroot and setpriv exec one another, so the
/// VMM keeps the pid the supervisor started.
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
        # A /proc of its own that shows other uids' processes to no one but root: the VMM sees itself, not the host.
        mkdir -p "$R/proc"
        mount -t proc -o ro,nosuid,nodev,noexec,hidepid=invisible sharpvisor-jail-proc "$R/proc"
        IFS='
        '
        for p in $SV_JAIL_RO; do bind "$p" ro; done
        for p in $SV_JAIL_RW; do bind "$p" rw; done
        # Opened here, as root, for the VMM's uid, which may not open them itself; locked as .NET locks a file it
        # opens (shared for reading, exclusive for writing), so two VMs never write one disk.
        fds=
        for e in $SV_JAIL_OPEN; do
          p=${e#* }
          [ -e "$p" ] || continue
          case $e in
            w\ *) exec {fd}<>"$p"; lock=-x ;;
            u\ *) exec {fd}<>"$p"; lock= ;;  # a migration's destination: the source holds the lock until GO
            *) exec {fd}<"$p"; lock=-s ;;
          esac
          if [ -n "$lock" ] && [ -f "$p" ] && ! flock -n $lock "$fd"; then
            echo "sharpvisor: error: $p: the file is in use by another VM or process" >&2
            exit 1
          fi
          fds="$fds$fd $p
        "
        done
        unset IFS
        export SHARPVISOR_INHERITED_FDS="$fds"
        # Its own directory (sockets, exit record) becomes its uid's; -P: a link a past VMM left there is not followed.
        chown -R -P "$SV_JAIL_UID:$SV_JAIL_UID" "$SV_JAIL_OWN"
        exec chroot "$R" /usr/bin/setpriv --reuid="$SV_JAIL_UID" --regid="$SV_JAIL_UID" --clear-groups --no-new-privs \
          --inh-caps="-all$SV_JAIL_CAPS" --ambient-caps="-all$SV_JAIL_CAPS" --bounding-set="-all$SV_JAIL_CAPS" -- "$@"
        """;

    private static readonly string[] Tools = ["/bin/bash", "/usr/bin/unshare", "/usr/sbin/chroot", "/usr/bin/setpriv", "/usr/bin/flock"];
    private const string TunDevice = "/dev/net/tun";

    // Not /dev/kvm nor /dev/net/tun: the VMM gets the descriptors it needs (Opened) and can open no more, so a VMM taken
    // over by its guest cannot attach another VM's TAP (CAP_NET_ADMIN would let it) nor make VMs of its own.
    private static readonly string[] Devices = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

    private VmmJail(string root, uint uid, string ownDirectory, IReadOnlyList<string> readOnly, IReadOnlyList<string> readWrite,
        IReadOnlyList<(string Path, bool Writable)> opened, bool netAdmin, bool incoming)
    {
        Incoming = incoming;
        Root = root;
        Uid = uid;
        OwnDirectory = ownDirectory;
        ReadOnly = readOnly;
        ReadWrite = readWrite;
        Opened = opened;
        NetAdmin = netAdmin;
    }

    /// <summary>The empty directory the jail's tmpfs is mounted on (in the VMM's namespace only).</summary>
    public string Root { get; }

    /// <summary>The VMM's uid and gid: its own, no other process's (<see cref="VmmUids"/>).</summary>
    public uint Uid { get; }

    /// <summary>The VM's directory of the run directory, handed to <see cref="Uid"/>.</summary>
    public string OwnDirectory { get; }

    public IReadOnlyList<string> ReadOnly { get; }

    public IReadOnlyList<string> ReadWrite { get; }

    /// <summary>The files the jail opens for the VMM (its uid may not): /dev/kvm, kernel, initrd, disks, /dev/net/tun once per NIC.</summary>
    public IReadOnlyList<(string Path, bool Writable)> Opened { get; }

    public bool NetAdmin { get; }

    /// <summary>
    /// A migration's destination: its writable disks are opened without their lock, which the source holds until it
    /// lets this VMM run; the VMM takes it then (a disk still locked by anyone else keeps the VM from running).
    /// </summary>
    public bool Incoming { get; }

    /// <summary>Null when this host cannot confine (the manager is not root, or a tool is missing): the VMM then runs with the manager's rights and its seccomp filter.</summary>
    public static string? Unavailable =>
        !System.Environment.IsPrivilegedProcess ? "the manager does not run as root (a mount namespace needs CAP_SYS_ADMIN)"
        : Tools.FirstOrDefault(t => !File.Exists(t)) is { } missing ? $"{missing} is missing (util-linux, coreutils)"
        : null;

    /// <summary>The display's VNC password file in the VM's directory, written by the manager before each start.</summary>
    public const string VncPasswordFile = "vnc-password";

    /// <summary>
    /// The jail of one VM: its files from <paramref name="definition"/> (paths already resolved), its own directory of
    /// the run directory, the VMM binary's own; it runs as <paramref name="uid"/> and opens <paramref name="kvmDevice"/>, and
    /// <paramref name="restoreFrom"/>, a snapshot it starts from, is bound read-only and opened for it like a read-only disk;
    /// <paramref name="incoming"/>: it receives a migration (<see cref="Incoming"/>).
    /// </summary>
    public static VmmJail For(VmDefinition definition, string root, string vmDirectory, string executable, uint uid, string kvmDevice, string? restoreFrom = null,
        bool incoming = false)
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
        readOnly.AddRange(definition.Disks.SelectMany(d => d.BackingFiles)); // read, never written, by a qcow2 disk
        if (restoreFrom is not null)
        {
            readOnly.Add(restoreFrom);
        }

        var readWrite = new List<string> { Path.GetFullPath(vmDirectory) };
        readWrite.AddRange(definition.Disks.Where(d => !d.ReadOnly).Select(d => d.Path));
        readWrite.AddRange(Devices.Where(File.Exists));
        var opened = new List<(string, bool)> { (kvmDevice, true) };
        if (definition.Kernel is { } kernelFile)
        {
            opened.Add((kernelFile, false));
        }

        if (definition.Initrd is { } initrdFile)
        {
            opened.Add((initrdFile, false));
        }

        opened.AddRange(definition.Disks.Select(d => (d.Path, !d.ReadOnly)));
        opened.AddRange(definition.Disks.SelectMany(d => d.BackingFiles).Select(b => (b, false)));
        if (restoreFrom is not null)
        {
            opened.Add((restoreFrom, false));
        }

        if (definition.Display?.VncPassword is not null)
        {
            opened.Add((Path.Combine(Path.GetFullPath(vmDirectory), VncPasswordFile), false)); // the manager's file, mode 0600
        }

        opened = [.. opened.DistinctBy(o => o.Item1, StringComparer.Ordinal)];
        // /dev/net/tun may be root's alone (mode 0600): one descriptor per TAP, each attached by the VMM's TUNSETIFF.
        opened.AddRange(definition.Nics.Select(_ => (TunDevice, true)));
        return new VmmJail(
            root,
            uid,
            Path.GetFullPath(vmDirectory),
            [.. readOnly.Distinct(StringComparer.Ordinal)],
            [.. readWrite.Distinct(StringComparer.Ordinal)],
            opened,
            definition.Nics.Count > 0,
            incoming);
    }

    /// <summary>The program and leading arguments that run <paramref name="executable"/> in the jail; the VMM's own arguments follow.</summary>
    public IReadOnlyList<string> Command(string executable) =>
        ["/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c", Script, "sharpvisor-jail", executable];

    /// <summary>What the jail script reads from its environment (paths one per line: none holds a newline, see VmLimits).</summary>
    public IReadOnlyDictionary<string, string> Environment() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["SV_JAIL_ROOT"] = Root,
        ["SV_JAIL_RO"] = string.Join('\n', ReadOnly),
        ["SV_JAIL_RW"] = string.Join('\n', ReadWrite),
        ["SV_JAIL_OPEN"] = string.Join('\n', Opened.Select(o => (!o.Writable ? "r " : Incoming ? "u " : "w ") + o.Path)),
        ["SV_JAIL_OWN"] = OwnDirectory,
        ["SV_JAIL_UID"] = Uid.ToString(System.Globalization.CultureInfo.InvariantCulture),
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
