using Sharpvisor.Cli.Commands;

namespace Sharpvisor.Cli;

internal static class Program
{
    public const string Usage = """
        usage: sharpvisor <command> [options]

        commands:
          run        boot a VM (with no --kernel: the built-in test guest's 'hello' scenario)
          serve      run the manager daemon: REST API, web UI, one VMM process per VM (docs/api.md)
          vm         list, show, create, start, stop, kill, pause, resume, reboot, delete the daemon's VMs;
                     attach to a VM's console
          events     follow the daemon's event stream
          host-info  show what this host's KVM offers
          help       show this text

        sharpvisor run [--kernel PATH] [--initrd PATH] [--cmdline STR] [--cpus N] [--memory SIZE]
                       [--serial stdio|file:PATH|socket:PATH|none] [--on-reboot stop|restart] [--kvm PATH]
                       [--emulation-workarounds on|off] [--disk PATH[,readonly][,id=ID]]...
                       [--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]]... [--console serial|virtio] [--rng]
                       [--control PATH] [--exit-file PATH]
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
          --disk       a raw disk image as virtio-blk (repeatable); readonly refuses guest writes,
                       id= sets the serial the guest reads (default: the file name)
          --net        a virtio-net NIC on TAP interface NAME, attached or created (repeatable);
                       default MAC 02:73:76 plus three bytes from the name
          --console    virtio adds hvc0 (virtio-console) on the same output; keyboard input goes to it
          --rng        a virtio-rng device fed from the host's getrandom
          --control    a control socket at PATH (unix, mode 0600, removed on exit): one JSON request per
                       line, {"id":1,"command":"status|pause|resume|stop|metrics"}; see docs/control-protocol.md
          --exit-file  just before exiting, write one JSON line to PATH: {"kind":"guest-exit|poweroff|
                       reset|crash|signal|start-failure","status":N,"message":"..."} (absent: the VMM was killed)

        sharpvisor serve [--listen HOST:PORT] [--data-dir DIR] [--database CONNSTRING]
          --listen     where the API and UI listen (default 127.0.0.1:7780; port 0 picks a free one)
          --data-dir   token, serve.json, the SQLite inventory and the VMMs' sockets (default
                       $SHARPVISOR_DATA_DIR, else $XDG_DATA_HOME/sharpvisor, else ~/.local/share/sharpvisor)
          --database   an Npgsql connection string: keep the inventory in PostgreSQL (or $SHARPVISOR_DATABASE)
          SIGTERM or Ctrl-C stops the daemon; running VMs keep running and are re-attached at the next start.
        sharpvisor vm list [--state STATE]
        sharpvisor vm show VM
        sharpvisor vm create NAME [--cpus N] [--memory SIZE] [--kernel PATH | --guest SCENARIO] [--initrd PATH]
                       [--cmdline STR] [--disk PATH[,readonly]]... [--net tap=NAME[,mac=..]]... [--console serial|virtio]
        sharpvisor vm start|stop [--timeout S]|kill|pause|resume|reboot|delete VM
        sharpvisor vm console VM
        sharpvisor events [--vm VM] [--after ID]
          VM           a VM's name or id
          --guest      the built-in test guest with this scenario (hello, idle, serial-echo ...)
          --state      only VMs in this state (defined, starting, running, paused, stopping, stopped, crashed,
                       failed)
          --timeout    stop: seconds before the VM is killed (default 10)
          console      the serial console; with a terminal, Ctrl-A x detaches and the VM keeps running
          events       one line per event until Ctrl-C; --after ID replays the events after that one
          all of them take --server URL, --token TOKEN, --data-dir DIR and --json (print the API's JSON):
          the daemon is --server, else $SHARPVISOR_URL, else DATA/serve.json; the token --token, else
          $SHARPVISOR_TOKEN, else DATA/token (DATA: --data-dir, else serve's default)

        The exit status of run is the guest's: a write of v to port 0xf4 exits with (v << 1) | 1, as QEMU's
        isa-debug-exit does; 0 after a guest reset or power-off; 1 on a VMM or guest failure; 2 on a usage error.
        The other commands exit 0 when done, 2 on a usage error (the daemon's 400 too), 1 on any other failure.
        """;

    private static int Main(string[] args) => CommandLine.Run(() =>
        args.Length == 0
            ? Fail(ExitCodes.Usage, "no command given (try 'sharpvisor help')")
            : args[0] switch
            {
                "run" => RunCommand.Execute(args[1..]),
                "host-info" => HostInfoCommand.Execute(args[1..]),
                "serve" => ServeLauncher.Execute(args[1..]),
                "vm" => VmCommand.Execute(args[1..]),
                "events" => EventsCommand.Execute(args[1..]),
                "help" or "--help" or "-h" => PrintUsage(),
                _ => Fail(ExitCodes.Usage, $"unknown command '{args[0]}' (try 'sharpvisor help')"),
            });

    public static int Fail(int code, string message) => CommandLine.Fail(code, message);

    private static int PrintUsage()
    {
        Console.Out.WriteLine(Usage);
        return ExitCodes.Success;
    }
}
