namespace Sharpvisor.Cli;

/// <summary>
/// The help of every command and subcommand, with examples: <c>sharpvisor help vm create</c>, <c>vm create --help</c>
/// and <c>vm create -h</c> print the same text. The options a topic lists are also what bash completion offers and
/// what an unknown option is compared with for a suggestion, so help, completion and suggestions cannot drift apart.
/// Shared as source by sharpvisor and sharpvisor-serve.
/// </summary>
internal static class Help
{
    private const string Remote = """

          VM           a VM's name or id
          --server URL, --token TOKEN, --data-dir DIR
                       the daemon is --server, else $SHARPVISOR_URL, else DATA/serve.json; the token --token, else
                       $SHARPVISOR_TOKEN, else DATA/token (DATA: --data-dir, else serve's default)
          --json       print the API's JSON instead of text
        """;

    private static readonly Dictionary<string, string> Topics = new(StringComparer.Ordinal)
    {
        ["run"] = """
            usage: sharpvisor run [--kernel PATH] [--initrd PATH] [--cmdline STR] [--cpus N] [--memory SIZE]
                                  [--serial stdio|file:PATH|socket:PATH|none] [--on-reboot stop|restart] [--kvm PATH]
                                  [--emulation-workarounds on|off] [--disk PATH[,readonly][,id=ID][,format=raw|qcow2]]...
                                  [--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]]... [--console serial|virtio] [--rng]
                                  [--display heads=N[,size=WxH][,vnc=PATH][,listen=127.0.0.1:PORT][,password-file=F]]
                                  [--control PATH] [--exit-file PATH] [--seccomp on|log|off]
                                  [--restore FILE | --incoming PATH]
                                  [--profile-guest PATH[,interval=MS]]

            Boots one VM in this process and exits with the guest's status.
              --kernel     a PVH ELF kernel or a bzImage (default: the built-in test guest)
              --initrd     an initial ramdisk, passed as PVH module 0
              --cmdline    kernel command line (built-in guest: the scenario, default 'hello')
              --cpus       number of vCPUs (default 1)
              --memory     RAM size: 128M, 4G, 64G; a bare number is MiB (default 128M)
              --serial     where COM1 goes (default stdio; with a terminal, Ctrl-A x quits); socket:PATH
                           listens on a unix socket (mode 0600, removed on exit): every client first gets the
                           last 64 KiB of output, then live output, and what it writes is keyboard input
              --on-reboot  what a guest reset does (default stop)
              --kvm        the KVM device (default /dev/kvm)
              --emulation-workarounds
                           on hosts whose KVM emulates instructions (PVM): complete int3/fwait for the guest
                           and give Linux guests arguments that avoid the rest (default on)
              --disk       a disk image as virtio-blk (repeatable); readonly refuses guest writes,
                           id= sets the serial the guest reads (default: the file name), format= says
                           raw (the default; never guessed from the file's bytes) or qcow2 (with its
                           backing chain, opened read-only; a qcow2 disk cannot migrate yet)
              --net        a virtio-net NIC on TAP interface NAME, attached or created (repeatable);
                           default MAC 02:73:76 plus three bytes from the name
              --console    virtio adds hvc0 (virtio-console) on the same output; keyboard input goes to it
              --rng        a virtio-rng device fed from the host's getrandom
              --display    a screen: virtio-gpu with N heads (1-16, default 1) preferring WxH (default 1024x768),
                           a virtio keyboard and tablet, and a VNC server per head on unix socket PATH (head N
                           at PATH.N; mode 0600) and, if asked, on loopback TCP PORT + N (0: any free port,
                           printed). Clients authenticate with the password file's first line or a one-time
                           ticket; a TCP port without a password file takes tickets only (docs/display.md)
              --control    a control socket at PATH (unix, mode 0600, removed on exit): one JSON request per
                           line, {"id":1,"command":"status|pause|resume|stop|metrics"}, and
                           {"id":2,"command":"snapshot","path":"vm.snap"}, {"id":3,"command":"migrate",
                           "path":"out.sock"}; see docs/control-protocol.md
              --restore    start from a snapshot the control socket's snapshot wrote, with the same --cpus and
                           --memory; RAM is mapped from FILE copy-on-write, so FILE must not change meanwhile
              --incoming   wait on unix socket PATH for a live migration, with the source's --cpus and
                           --memory; the source's control migrate listens on its own socket, and whoever
                           moves the VM connects the two (socat, or the manager across hosts)
              --exit-file  just before exiting, write one JSON line to PATH: {"kind":"guest-exit|poweroff|
                           reset|crash|signal|start-failure","status":N,"message":"..."} (absent: the VMM was killed)
              --seccomp    once the machine is built, a seccomp filter allows only the calls a VMM makes; any
                           other kills the process with SIGSYS (default on; log: allowed and logged by the kernel)
              --profile-guest
                           sample the guest's instruction pointer into PATH (bench/guest-profile.py reads it)

            The exit status is the guest's: a write of v to port 0xf4 exits with (v << 1) | 1, as QEMU's
            isa-debug-exit does; 0 after a guest reset or power-off; 1 on a VMM or guest failure; 2 on a usage error;
            killed by SIGSYS (status 159 in a shell) when the VMM made a system call its seccomp filter forbids.

            examples:
              sharpvisor run                                    # the built-in test guest says hello (exit 1 = PASS)
              sharpvisor run --cmdline shell                    # an interactive prompt; Ctrl-A x quits
              sharpvisor run --kernel vmlinux --initrd initrd.img --cpus 2 --memory 1G --cmdline "console=ttyS0"
              sharpvisor run --cmdline idle --disk disk.img --net tap=tap0 --control /tmp/vm.sock
            """,
        ["serve"] = """
            usage: sharpvisor serve [--listen HOST:PORT] [--data-dir DIR] [--database CONNSTRING] [--kvm PATH]
                                    [--storage-root [NAME=]DIR]... [--tls-cert PEM [--tls-key PEM]] [--insecure-http]

            Runs the manager daemon: REST API (docs/api.md), web UI, one VMM process per VM.
              --listen     where the API and UI listen (default 127.0.0.1:7780; port 0 picks a free one);
                           beyond loopback it serves HTTPS only: with --tls-cert, else a self-signed certificate
                           made in DATA/tls whose SHA-256 fingerprint serve prints and the CLI pins
              --data-dir   token, serve.json, the SQLite inventory and the VMMs' sockets (default
                           $SHARPVISOR_DATA_DIR, else $XDG_DATA_HOME/sharpvisor, else ~/.local/share/sharpvisor)
              --database   an Npgsql connection string: keep the inventory in PostgreSQL (or $SHARPVISOR_DATABASE)
              --kvm        the KVM device the VMMs open (default /dev/kvm); serve warns when it is not usable
              --storage-root  a directory whose files VM definitions may use as kernel, initrd or disk, links
                           resolved (repeatable; default DATA-DIR/images, created at start); each is a storage
                           pool named NAME (default: the directory's name; DATA-DIR/images is "default")
              --tls-cert   a PEM certificate (and --tls-key, else the key in the same file): serve HTTPS with it
              --insecure-http  serve plain HTTP beyond loopback anyway (the token crosses the network in clear)
            SIGTERM or Ctrl-C stops the daemon; running VMs keep running and are re-attached at the next start.

            examples:
              sharpvisor serve                                  # then open the web UI address it prints
              sharpvisor serve --listen 127.0.0.1:0 --data-dir /tmp/sv
              sharpvisor serve --database "Host=/run/postgresql;Username=sharpvisor;Database=sharpvisor"
            """,
        ["host-info"] = """
            usage: sharpvisor host-info [--kvm PATH]

            Shows the host's CPUs, memory and storage, and what its KVM offers (or why VMs cannot start here,
            then exit status 1).
              --kvm        the KVM device (default /dev/kvm)

            example:
              sharpvisor host-info
            """,
        ["vm"] = """
            usage: sharpvisor vm SUBCOMMAND ...

            The VMs of a running 'sharpvisor serve', over its REST API.
              list         the VMs, one line each
              show         one VM's definition and state
              create       define a VM
              template     make a stopped VM a template (or, with --off, a VM again)
              clone        define a thin clone of a template (qcow2 overlays over its disks)
              start, stop, kill, pause, resume, reboot
                           change a VM's state
              delete       remove a VM that does not run
              console      attach to a VM's serial console
              snapshot, snapshots, restore
                           save a running VM whole, list its snapshots, start it from one
              migrate      move a running VM to another daemon, live
              migrate-cancel
                           give up the VM's migration under way (it runs on here)
              display, screenshot
                           where the VM's screens are; a head's picture as a PNG
            'sharpvisor help vm SUBCOMMAND' tells more.

            examples:
              sharpvisor vm create echo1 --guest serial-echo --memory 64M
              sharpvisor vm start echo1 && sharpvisor vm console echo1
            """,
        ["vm list"] = """
            usage: sharpvisor vm list [--state STATE] [--json]

            The daemon's VMs as a table: name, state, vCPUs, memory, id.
              --state      only VMs in this state (defined, starting, running, paused, stopping, stopped, crashed,
                           failed)
            """ + Remote + """


            example:
              sharpvisor vm list --state running
            """,
        ["vm show"] = """
            usage: sharpvisor vm show VM [--json]

            One VM's definition and state, as 'key: value' lines (a crashed or failed VM says why).
            """ + Remote + """


            example:
              sharpvisor vm show web1
            """,
        ["vm create"] = """
            usage: sharpvisor vm create NAME [--cpus N] [--memory SIZE] [--kernel PATH | --guest SCENARIO]
                                        [--initrd PATH] [--cmdline STR] [--disk PATH[,readonly][,format=raw|qcow2]]...
                                        [--net tap=NAME[,mac=..]]... [--console serial|virtio]
                                        [--display heads=N[,size=WxH][,listen=127.0.0.1:PORT][,password-file=F]] [--json]

            Defines a VM (it does not start it). The flags are run's; files must exist on the daemon's host.
              NAME         lowercase letters, digits and '-', starting with a letter (at most 63)
              --cpus       number of vCPUs, 1-255 (default 1)
              --memory     RAM: 64M, 2G; a bare number is MiB; 16M to 64G (default 128M)
              --kernel     a PVH ELF kernel or a bzImage (its path is made absolute)
              --guest      the built-in test guest with this scenario (hello, idle, serial-echo, shell ...)
              --initrd     an initial ramdisk (with --kernel only)
              --cmdline    the kernel command line (with --guest: the scenario's arguments)
              --disk       an image file as virtio-blk (repeatable; no commas in the path): raw unless
                           format=qcow2 says so; a qcow2 image's backing files must be under the storage roots
              --net        a virtio-net NIC on TAP interface NAME (repeatable)
              --console    serial (default) or virtio
              --display    a screen: N heads (1-16) preferring WxH (default 1024x768), a VNC server per head
                           (through the daemon; also on loopback PORT + N with listen=, where clients give
                           F's first line, 1-8 printable characters, or a one-time ticket)
            """ + Remote + """


            examples:
              sharpvisor vm create echo1 --guest serial-echo --memory 64M
              sharpvisor vm create web1 --kernel ./vmlinux --cpus 2 --memory 1G --disk ./root.img --cmdline "console=ttyS0"
            """,
        ["vm start"] = """
            usage: sharpvisor vm start VM [--json]

            Starts the VM and prints its state once it runs; exits 1 when it does not end running (it failed to
            start, or the guest ended at once), with the reason.
            """ + Remote + """


            example:
              sharpvisor vm start echo1 && sharpvisor vm console echo1
            """,
        ["vm stop"] = """
            usage: sharpvisor vm stop VM [--timeout S] [--json]

            Asks the VMM to stop the VM; after --timeout seconds (default 10) it is killed.
            """ + Remote + """


            example:
              sharpvisor vm stop web1 --timeout 30
            """,
        ["vm kill"] = """
            usage: sharpvisor vm kill VM [--json]

            Kills the VM's VMM process at once (SIGKILL): the guest gets no chance to shut down.
            """ + Remote,
        ["vm pause"] = """
            usage: sharpvisor vm pause VM [--json]

            Stops the VM's vCPUs; its memory and devices stay as they are until 'vm resume'.
            """ + Remote,
        ["vm resume"] = """
            usage: sharpvisor vm resume VM [--json]

            Runs a paused VM's vCPUs again.
            """ + Remote,
        ["vm reboot"] = """
            usage: sharpvisor vm reboot VM [--json]

            A stop and a start as one action (nothing else runs on the VM in between); exits 1 unless it runs again.
            """ + Remote,
        ["vm delete"] = """
            usage: sharpvisor vm delete VM

            Removes a VM that does not run (its files are left where they are).
            """ + Remote,
        ["vm template"] = """
            usage: sharpvisor vm template VM [--off] [--json]

            Makes the stopped VM a template: it never runs again, and thin clones are made of it (vm clone). With
            --off it is an ordinary VM again, refused while any VM's disk is an overlay over one of its disks.
            """ + Remote + """


            example:
              sharpvisor vm template gold
            """,
        ["vm clone"] = """
            usage: sharpvisor vm clone TEMPLATE NAME [--json]

            Defines NAME as a thin clone of TEMPLATE: its settings, no NICs (give each clone its own TAP), and each
            writable disk a new qcow2 overlay over the template's (NAME-diskN.qcow2 beside it), so the clone's writes
            land in its overlay only; read-only disks are shared. The template keeps its disks while clones read them.
            """ + Remote + """


            example:
              sharpvisor vm clone gold desk-1 && sharpvisor vm start desk-1
            """,
        ["vm snapshot"] = """
            usage: sharpvisor vm snapshot VM NAME [--stop] [--json]

            Pauses the running VM, writes it whole (vCPUs, devices, the RAM it touched) into a snapshot the daemon
            keeps under NAME (letters, digits, '.', '_', '-'; one of that name is replaced), and lets it go on, or
            stops it with --stop. A raw disk is not in the snapshot: take it with --stop to restore the disk as it was.
            """ + Remote + """


            example:
              sharpvisor vm snapshot web1 before-upgrade --stop
            """,
        ["vm snapshots"] = """
            usage: sharpvisor vm snapshots VM [--json]

            The VM's snapshots, one line each: name, when it was written, its size (all of RAM; untouched pages take
            no disk).
            """ + Remote,
        ["vm restore"] = """
            usage: sharpvisor vm restore VM NAME [--json]

            Starts the stopped VM from its snapshot NAME instead of booting it: it goes on where it was saved.
            """ + Remote,
        ["vm migrate"] = """
            usage: sharpvisor vm migrate VM --to URL [--to-token TOKEN] [--to-fingerprint SHA256] [--to-net tap=NAME]...
                                         [--downtime-ms N] [--max-bandwidth BYTES] [--auto-converge] [--json]

            Moves the running VM, live, to the daemon at URL (which must see its kernel and disks at the same paths:
            shared storage). The guest keeps running while its RAM is copied, then pauses for at most about
            --downtime-ms (default 300) and goes on there; the VM then belongs to that daemon and is gone from this
            one. --to-token is that daemon's token, --to-fingerprint its certificate's SHA-256 when it is self-signed;
            --to-net gives the destination's TAP for each NIC in order (on one host they must differ from the VM's;
            the guest keeps its MACs); --max-bandwidth caps the copy (bytes/s); --auto-converge slows the vCPUs of a
            guest that writes memory faster than the copy goes. If it fails, the VM runs on here (exit 1).
            """ + Remote + """


            example:
              sharpvisor vm migrate web1 --to https://host2:7780 --to-token "$(ssh host2 cat /var/lib/sharpvisor/token)"
            """,
        ["vm migrate-cancel"] = """
            usage: sharpvisor vm migrate-cancel VM [--json]

            Gives up the migration of VM under way (from another shell than the 'vm migrate' it cancels, which then
            fails with exit 1): the VM runs on here and the destination keeps nothing. Refused (exit 1) when the VM
            is not migrating, or once it has been handed over to the destination.
            """ + Remote,
        ["vm display"] = """
            usage: sharpvisor vm display VM [--json]

            Prints each display head of the running VM: its size now and, when the definition has display.vncListen,
            the loopback VNC endpoint on the daemon's host (clients there authenticate with a one-time ticket).
            """ + Remote,
        ["vm screenshot"] = """
            usage: sharpvisor vm screenshot VM [--head N] FILE.png [--json]

            Writes head N's picture (default 0) of the running VM, as it is now, to FILE.png.
            """ + Remote,
        ["vm console"] = """
            usage: sharpvisor vm console VM

            Attaches to the VM's serial console. With a terminal: raw mode, Ctrl-A x detaches and the VM keeps
            running; piped input is sent as is. Exits 0 when the VM stops.
            """ + Remote,
        ["events"] = """
            usage: sharpvisor events [--vm VM] [--after ID] [--json]

            Follows the daemon's event stream, one line per event, until Ctrl-C.
              --vm         only this VM's events
              --after ID   replay the events after that one first
            """ + Remote + """


            example:
              sharpvisor events --vm web1 --after 0
            """,
        ["pool"] = """
            usage: sharpvisor pool list
                   sharpvisor pool images POOL
                   sharpvisor pool create-image POOL NAME [SIZE] [--format qcow2|raw] [--backing IMAGE]
                   sharpvisor pool upload POOL FILE [--name NAME] [--progress]
                   sharpvisor pool download POOL IMAGE FILE [--progress]
                   sharpvisor pool delete-image POOL IMAGE

            The daemon's storage pools (each --storage-root of serve; "default" is DATA-DIR/images) and their
            disk images, raw and qcow2 (docs/storage.md).
              list          each pool: images, free room, size, directory
              images        each image: format, virtual size, size on disk, backing file, the VMs using it
              create-image  a new empty image (default qcow2), or with --backing a qcow2 overlay over another image
                            of the pool (SIZE then defaults to its size)
              upload        FILE becomes image NAME (default: FILE's name); a qcow2 image is checked first
              download      the image's bytes into FILE (refused while a running VM writes it)
              delete-image  refused while a VM uses the image or another image is an overlay over it
              --progress    a progress bar even when stderr is not a terminal
            SIZE is bytes, or a number with K, M, G or T (powers of 1024).
            """ + Remote + """


            examples:
              sharpvisor pool upload default debian.qcow2
              sharpvisor pool create-image default desk1.qcow2 --backing debian.qcow2
            """,
        ["image"] = """
            usage: sharpvisor image SUBCOMMAND ...

            Disk images, raw and qcow2 (v2 and v3, backing chains), without qemu-img (docs/storage.md).
              create       a new empty image, optionally over a backing file
              info         format, sizes, backing file (--output json as qemu-img's)
              check        a qcow2 image's metadata: exit 0 clean, 3 leaked clusters, 2 corruption
              convert      copy an image's content into a new raw or qcow2 image, flattening its backing chain
              resize       grow an image (shrink a raw one with --shrink)
            SIZE is bytes, or a number with K, M, G or T (powers of 1024). qemu-img's -f, -O, -b, -F and -p are
            accepted for --format, --output-format, --backing, --backing-format and --progress.
            'sharpvisor help image SUBCOMMAND' tells more.

            examples:
              sharpvisor image create disk.qcow2 20G
              sharpvisor image info --output json disk.qcow2
            """,
        ["image create"] = """
            usage: sharpvisor image create [--format qcow2|raw] [--backing FILE [--backing-format raw|qcow2]]
                                          [--cluster-size SIZE] NAME [SIZE]

            Creates the image NAME, which must not exist, SIZE bytes long (a raw image is a sparse file).
              --format     qcow2 (default) or raw (-f)
              --backing    a backing file the new qcow2 image reads through (-b); a relative name is relative
                           to NAME's directory; SIZE defaults to its size
              --backing-format
                           the backing file's format (-F; default: probed, then recorded in NAME)
              --cluster-size
                           the qcow2 cluster size, a power of two from 512 to 2M (default 64K)

            examples:
              sharpvisor image create disk.qcow2 20G
              sharpvisor image create -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
            """,
        ["image info"] = """
            usage: sharpvisor image info [--output human|json] [--backing-chain] [--format raw|qcow2] FILE

            Describes an image: format, virtual size, disk size (the blocks the file takes), cluster size,
            backing file and its format, and the dirty and corrupt flags.
              --output     human (default) or json: qemu-img info --output=json's fields and names
                           (virtual-size, filename, format, actual-size, cluster-size, backing-filename,
                           full-backing-filename, backing-filename-format, dirty-flag)
              --backing-chain
                           every image of the backing chain in turn (in JSON: an array)
              --format     read FILE as this format (-f) instead of probing it

            example:
              sharpvisor image info --backing-chain --output json overlay.qcow2
            """,
        ["image check"] = """
            usage: sharpvisor image check [--format raw|qcow2] FILE

            Checks a qcow2 image's metadata, read-only: every L1, L2, data and refcount cluster aligned and inside
            the file, and every refcount equal to the references to its cluster. A raw image has none to check.
              --format     read FILE as this format (-f) instead of probing it
            Exit status, as qemu-img check's: 0 no problem; 3 leaked clusters only (refcount above references:
            lost space, no harm to data; a crash can leave them); 2 corruption (a refcount below its references,
            a cluster used twice, a pointer outside the file); 1 the image cannot be read at all.

            example:
              sharpvisor image check disk.qcow2 || echo "check exited $?"
            """,
        ["image convert"] = """
            usage: sharpvisor image convert [--format FMT] [--output-format qcow2|raw] [--cluster-size SIZE]
                                           [--progress] SRC DST

            Copies what a guest sees in SRC (its backing chain flattened) into DST, which must not exist. All-zero
            clusters are not written, so DST is sparse. A failed conversion removes DST.
              --format     SRC's format (-f; default: probed)
              --output-format
                           DST's format (-O): raw (default, as qemu-img) or qcow2
              --cluster-size
                           DST's qcow2 cluster size (default 64K)
              --progress   a progress bar on stderr (-p); shown anyway when stderr is a terminal

            examples:
              sharpvisor image convert -O qcow2 disk.raw disk.qcow2
              sharpvisor image convert -O raw --progress overlay.qcow2 flat.raw
            """,
        ["image resize"] = """
            usage: sharpvisor image resize [--shrink] [--format raw|qcow2] FILE [+]SIZE

            Sets FILE's virtual size to SIZE, or grows it by SIZE with '+'. A qcow2 image only grows, and only
            as far as its L1 table's clusters reach (4 TiB with 64K clusters): moving the table is refused. Close
            the image first: it is locked while it changes.
              --shrink     allow a smaller size (raw only): the data past it is lost
              --format     read FILE as this format (-f) instead of probing it

            examples:
              sharpvisor image resize disk.qcow2 40G
              sharpvisor image resize disk.raw +1G
            """,
        ["completion"] = """
            usage: sharpvisor completion bash

            Prints a bash completion script for sharpvisor: commands, subcommands and each one's options.

            example:
              source <(sharpvisor completion bash)       # or save it as ~/.local/share/bash-completion/completions/sharpvisor
            """,
        ["help"] = """
            usage: sharpvisor help [COMMAND [SUBCOMMAND]]

            Shows the help of a command ('sharpvisor COMMAND --help' and '-h' do the same).
            """,
        ["version"] = """
            usage: sharpvisor version   (or sharpvisor --version)

            Prints sharpvisor's version.
            """,
    };

    /// <summary>The overview: <c>sharpvisor help</c>, <c>--help</c>, <c>-h</c>.</summary>
    public const string Overview = """
        usage: sharpvisor <command> [options]

        commands:
          run         boot a VM in this process (with no --kernel: the built-in test guest's 'hello' scenario)
          serve       run the manager daemon: REST API, web UI, one VMM process per VM (docs/api.md)
          vm          list, show, create, start, stop, kill, pause, resume, reboot, delete the daemon's VMs;
                      attach to a VM's console
          events      follow the daemon's event stream
          image       create, inspect, check, convert and resize raw and qcow2 disk images
          pool        the daemon's storage pools: list, create, upload, download and delete their images
          host-info   show the host's CPUs, memory, storage and what its KVM offers
          completion  print a bash completion script
          version     print the version (also --version)
          help        show this text, or a command's: 'sharpvisor help vm create', 'sharpvisor run --help'

        The exit status of run is the guest's (see 'sharpvisor help run'). The other commands exit 0 when done,
        2 on a usage error (the daemon's 400 too), 1 on any other failure.

        examples:
          sharpvisor run
          sharpvisor serve
          sharpvisor vm create echo1 --guest serial-echo --memory 64M && sharpvisor vm start echo1
        """;

    /// <summary>The commands, for completion and suggestions.</summary>
    public static IReadOnlyList<string> Commands { get; } = ["run", "serve", "vm", "events", "image", "pool", "host-info", "completion", "version", "help"];

    /// <summary>vm's subcommands, in the order its help lists them.</summary>
    public static IReadOnlyList<string> VmSubcommands { get; } =
        ["list", "show", "create", "template", "clone", "start", "stop", "kill", "pause", "resume", "reboot", "delete", "console", "snapshot", "snapshots", "restore", "migrate", "migrate-cancel", "display", "screenshot"];

    /// <summary>pool's subcommands, in the order its help lists them.</summary>
    public static IReadOnlyList<string> PoolSubcommands { get; } = ["list", "images", "create-image", "upload", "download", "delete-image"];

    /// <summary>image's subcommands, in the order its help lists them.</summary>
    public static IReadOnlyList<string> ImageSubcommands { get; } = ["create", "info", "check", "convert", "resize"];

    public static IEnumerable<string> TopicNames => Topics.Keys;

    /// <summary>A topic's text ("vm create"), or null when there is none.</summary>
    public static string? For(string topic) => Topics.GetValueOrDefault(topic);

    /// <summary>The options a topic's text names (what completion offers after that command).</summary>
    public static IReadOnlyList<string> OptionsOf(string topic)
    {
        if (For(topic) is not { } text)
        {
            return [];
        }

        // The examples use other commands' options too: only the text above them describes this one.
        var examples = text.IndexOf("\nexample", StringComparison.Ordinal);
        var described = examples < 0 ? text : text[..examples];
        return [.. System.Text.RegularExpressions.Regex.Matches(described, @"(?<![\w-])--[a-z][a-z-]*").Select(m => m.Value)
            .Append("--help").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>The help topic an argument list asks about: "vm create" for <c>vm create web1 --help</c>, "run" for <c>run -h</c>.</summary>
    public static string TopicOf(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || !Topics.ContainsKey(args[0]))
        {
            return "";
        }

        return args[0] is "vm" or "image" && args.Count > 1 && Topics.ContainsKey(args[0] + " " + args[1]) ? args[0] + " " + args[1] : args[0];
    }

    /// <summary>
    /// The candidate closest to <paramref name="typed"/> when it is a plausible typo (edit distance at most 2, or a
    /// prefix), for "did you mean" hints; null otherwise.
    /// </summary>
    public static string? Nearest(string typed, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(typed);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = candidate.StartsWith(typed, StringComparison.Ordinal) && typed.Length >= 3 ? 1 : Distance(typed, candidate);
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return bestDistance <= Math.Min(2, Math.Max(1, typed.Length / 3)) ? best : null;
    }

    /// <summary>Levenshtein distance, with inputs bounded by the caller (command-line words).</summary>
    private static int Distance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}

/// <summary><c>--help</c> or <c>-h</c> among a command's arguments: its help is printed and it exits 0.</summary>
internal sealed class HelpRequestedException() : Exception("help requested");
