using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sharpvisor.Control;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Kvm.Sandbox;
using Sharpvisor.Vmm.Control;
using Sharpvisor.Vmm.Machine;
using Sharpvisor.Vmm.Migration;

namespace Sharpvisor.Cli.Commands;

/// <summary><c>sharpvisor run</c>: boots one VM in this process and exits with the guest's status.</summary>
internal static class RunCommand
{
    internal static readonly HashSet<string> ValueOptions =
        ["--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--serial", "--on-reboot", "--kvm", "--emulation-workarounds",
         "--disk", "--net", "--console", "--display", "--control", "--exit-file", "--seccomp", "--restore", "--incoming", ProfileOption];

    // A diagnostic left out of the usage text: sample the guest's RIP every N ms (default 10) into FILE.
    private const string ProfileOption = "--profile-guest";

    internal static readonly HashSet<string> FlagOptions = ["--rng"];

    /// <summary>
    /// A test hook, right after the seccomp filter is installed: "forbidden-call" makes a call the filter forbids (the
    /// kernel kills the VMM), "refused-call" one it refuses (the VMM says which errno it got, and goes on).
    /// </summary>
    internal const string SeccompSelfTestVariable = "SHARPVISOR_SECCOMP_SELFTEST";

    public static int Execute(string[] args)
    {
        InheritedFiles.AdoptFromEnvironment();
        var options = new ArgumentReader(args, ValueOptions, FlagOptions);
        // Prepared first, so that whatever stops the VM from running (a kernel that is no kernel, no usable KVM) is
        // recorded there too: a supervisor tells "failed to start" from a crash by it.
        var exitFile = options.Get("--exit-file");
        if (exitFile is not null)
        {
            PrepareExitFile(exitFile);
        }

        try
        {
            return Run(options, exitFile);
        }
        catch (Exception e) when (exitFile is not null && !File.Exists(exitFile))
        {
            var (code, message) = CommandLine.Describe(e);
            TryWriteExitFile(exitFile, new ExitRecord(ExitRecord.StartFailure, code, message));
            throw;
        }
    }

    private static int Run(ArgumentReader options, string? exitFile)
    {
        var kernelPath = options.Get("--kernel");
        var kernel = kernelPath is null ? BuiltInGuest.Load() : ReadInput(kernelPath, "--kernel");
        var initrdPath = options.Get("--initrd");
        var onReboot = options.Get("--on-reboot") switch
        {
            null or "stop" => RebootAction.Stop,
            "restart" => RebootAction.Restart,
            var other => throw new UsageException($"--on-reboot '{other}' must be stop or restart"),
        };

        var interval = GuestProfileOptions.DefaultInterval;
        using var profileOutput = options.Get(ProfileOption) is { } profile ? OpenProfile(profile, out interval) : null;
        using var console = SerialConsole.Create(options.Get("--serial") ?? "stdio");
        var config = new VmConfig
        {
            Kernel = kernel,
            KernelDescription = kernelPath is null ? "built-in test guest" : $"kernel {kernelPath}",
            Initrd = initrdPath is null ? null : ReadInput(initrdPath, "--initrd"),
            CommandLine = options.Get("--cmdline") ?? (kernelPath is null ? BuiltInGuest.DefaultScenario : ""),
            Cpus = options.GetInt("--cpus", 1),
            MemoryBytes = options.Get("--memory") is { } memory ? SizeParser.Parse(memory, "--memory") : VmConfig.DefaultMemory,
            SerialOutput = console.Output,
            OnReboot = onReboot,
            KvmPath = options.Get("--kvm") ?? Kvm.KvmSystem.DefaultPath,
            EmulationWorkarounds = options.Get("--emulation-workarounds") switch
            {
                null or "on" => true,
                "off" => false,
                var other => throw new UsageException($"--emulation-workarounds '{other}' must be on or off"),
            },
            Disks = [.. options.GetAll("--disk").Select(DeviceOptions.ParseDisk)],
            Nics = [.. options.GetAll("--net").Select(DeviceOptions.ParseNet)],
            VirtioConsole = options.Get("--console") switch
            {
                null or "serial" => false,
                "virtio" => true,
                var other => throw new UsageException($"--console '{other}' must be serial or virtio"),
            },
            VirtioRng = options.Has("--rng"),
            GuestProfile = profileOutput is null ? null : new GuestProfileOptions(profileOutput, interval),
        };

        // The screens outlive each machine (a guest reboot builds a new one): their clients stay connected.
        using var display = options.Get("--display") is { } displaySpec ? StartDisplay(DisplayOptions.Parse(displaySpec)) : null;
        if (display is not null)
        {
            config = config with { DisplayHeads = display.Heads, DisplayInput = display.Input };
        }

        using var hostStop = new CancellationTokenSource();
        using var watchdog = new StopWatchdog(exitFile);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        var controlPath = options.Get("--control");
        var seccomp = options.Get("--seccomp") switch
        {
            null or "on" => SeccompMode.Kill,
            "log" => SeccompMode.Log,
            "off" => SeccompMode.Off,
            var other => throw new UsageException($"--seccomp '{other}' must be on, log or off"),
        };
        var confined = false;
        // The first machine comes from the snapshot or the migration; a guest reboot with --on-reboot restart boots
        // the kernel afresh.
        var restoreFrom = options.Get("--restore");
        var incoming = options.Get("--incoming");
        if (restoreFrom is not null && incoming is not null)
        {
            throw new UsageException("--restore and --incoming both say where the VM comes from: give one");
        }

        var control = new MachineControl(StopFromControl);
        control.DisplayServers = display;
        // Disposed before hostStop (declared after it): no control request can reach a disposed token source.
        using var controlServer = new ControlServerHolder();

        while (true)
        {
            StopReason reason;
            NetworkStream? source = null;
            using (var machine = restoreFrom is not null ? Machine.Restore(config, restoreFrom)
                : incoming is not null ? Receive(config, incoming, out source, hostStop.Token)
                : Machine.Create(config))
            {
                restoreFrom = null;
                incoming = null;
                console.Attach(machine);
                control.Attach(machine);
                // Started once the first machine exists, so status works from the moment the socket appears.
                if (controlPath is not null)
                {
                    controlServer.Server ??= StartControl(controlPath, control);
                }

                if (!confined)
                {
                    // Everything is open and listening: from here the VMM needs only the calls on its list.
                    VmmSyscallPolicy.Install(seccomp);
                    confined = true;
                    switch (seccomp != SeccompMode.Off ? Environment.GetEnvironmentVariable(SeccompSelfTestVariable) : null)
                    {
                        case "forbidden-call":
                            _ = SeccompFilter.MakeForbiddenCall(); // the kernel kills the process here
                            break;
                        case "refused-call":
                            Console.Error.WriteLine($"sharpvisor: seccomp self-test: connect failed with errno {SeccompFilter.MakeConnectCall()}");
                            break;
                    }
                }

                try
                {
                    if (source is not null)
                    {
                        // From GO the VM is this process's: it runs even if the source can no longer hear so (it
                        // then stays paused there, for an operator to stop).
                        try
                        {
                            Machine.ConfirmRunning(source);
                        }
                        catch (Exception e) when (e is IOException or ObjectDisposedException)
                        {
                            Console.Error.WriteLine($"sharpvisor: the migration's source did not hear that this VM runs: {e.Message}");
                        }

                        source.Dispose();
                    }

                    reason = machine.Run(hostStop.Token);
                }
                finally
                {
                    control.Detach();
                }
            }

            if (reason.Kind == StopKind.GuestReboot && config.OnReboot == RebootAction.Restart && !hostStop.IsCancellationRequested)
            {
                continue;
            }

            console.Output?.Flush();
            if (reason.Kind is StopKind.GuestCrash or StopKind.VmmError)
            {
                Console.Error.WriteLine($"sharpvisor: {reason.Description}");
            }

            if (exitFile is not null)
            {
                TryWriteExitFile(exitFile, reason.ToExitRecord());
            }

            return reason.ExitStatus;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            watchdog.Arm();
            hostStop.Cancel();
        }

        void StopFromControl()
        {
            try
            {
                watchdog.Arm();
                hostStop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The run is over already.
            }
        }
    }

    /// <summary>
    /// The display's framebuffers and VNC servers. A TCP port asks for authentication (a password from the file, or a
    /// ticket from the control socket): other users of the host can reach it, unlike the 0600 unix socket.
    /// </summary>
    private static DisplayServers StartDisplay(DisplayOptions display)
    {
        string? password = null;
        if (display.PasswordFile is { } file)
        {
            password = System.Text.Encoding.UTF8.GetString(ReadInput(file, "--display password-file")).Split('\n')[0].TrimEnd('\r');
            if (password.Length == 0 || password.Contains('\0', StringComparison.Ordinal))
            {
                throw new UsageException($"--display password-file {file}: its first line must be the password (1 or more characters, no NUL)");
            }
        }

        try
        {
            var servers = DisplayServers.Start(
                display.Heads, display.Width, display.Height, display.SocketFor, display.EndPointFor, password,
                message => Console.Error.WriteLine($"sharpvisor: {message}"));
            for (var head = 0; head < servers.TcpEndPoints.Count; head++)
            {
                Console.Error.WriteLine($"sharpvisor: display {head}: VNC on {servers.TcpEndPoints[head]}");
            }

            return servers;
        }
        catch (IOException e)
        {
            throw new IOException($"--display: {e.Message}", e);
        }
    }

    /// <summary>
    /// Waits on the unix socket <paramref name="path"/> for the migration stream (whoever moves the VM connects it to
    /// the source's), builds the machine from it, and returns it with the stream, on which RUNNING is still to be said.
    /// </summary>
    private static Machine Receive(VmConfig config, string path, out NetworkStream source, CancellationToken stop)
    {
        try
        {
            source = MigrationSocket.AcceptOne(path, Timeout.InfiniteTimeSpan, stop);
        }
        catch (IOException e) when (e is not MigrationException)
        {
            throw new UsageException($"--incoming {path}: {e.Message}");
        }

        try
        {
            return Machine.ReceiveFrom(config, source, IncomingHandoverTimeout);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    // How long the destination waits for the source's GO once it holds the whole VM.
    private static readonly TimeSpan IncomingHandoverTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Makes a host's stop request (SIGTERM, SIGINT, the control socket's stop) end the process within
    /// <see cref="Deadline"/> even when the teardown cannot finish: a vCPU blocked writing to a console nobody reads,
    /// a device thread stuck in its backend. The exit record says the stop was forced; the guest's disk writes are in
    /// the kernel's page cache already, so nothing written is lost by not waiting.
    /// </summary>
    private sealed class StopWatchdog(string? exitFile) : IDisposable
    {
        public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

        private readonly ManualResetEventSlim _finished = new();
        private int _armed;

        public void Arm()
        {
            if (Interlocked.Exchange(ref _armed, 1) != 0)
            {
                return;
            }

            new Thread(() =>
            {
                if (_finished.Wait(Deadline))
                {
                    return;
                }

                var reason = StopReason.Host($"stopped by the host (forced: the VM did not stop within {Deadline.TotalSeconds:0} s)");
                if (exitFile is not null)
                {
                    TryWriteExitFile(exitFile, reason.ToExitRecord());
                }

                Environment.Exit(reason.ExitStatus);
            }) { IsBackground = true, Name = "stop-watchdog" }.Start();
        }

        /// <summary>The run is over by itself: the watchdog stands down.</summary>
        public void Dispose() => _finished.Set();
    }

    /// <summary>Removes a record left by an earlier run (so a stale one is never read as this run's) and checks the place is writable.</summary>
    private static void PrepareExitFile(string path)
    {
        try
        {
            File.Delete(path);
            File.WriteAllText(path + ".tmp", "");
            File.Delete(path + ".tmp");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--exit-file {path}: {e.Message}");
        }
    }

    private static void TryWriteExitFile(string path, ExitRecord record)
    {
        try
        {
            record.WriteTo(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"sharpvisor: --exit-file {path}: {e.Message}");
        }
    }

    private static ControlServer StartControl(string path, MachineControl control)
    {
        try
        {
            return ControlServer.Start(path, new ControlDispatcher(control), message => Console.Error.WriteLine($"sharpvisor: {message}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SocketException or ArgumentException)
        {
            throw new UsageException($"--control {path}: {e.Message}");
        }
    }

    /// <summary>A control server that may start later than the scope that disposes it.</summary>
    private sealed class ControlServerHolder : IDisposable
    {
        public ControlServer? Server { get; set; }

        public void Dispose() => Server?.Dispose();
    }

    /// <summary>Parses <c>FILE[,interval-ms]</c> and creates FILE.</summary>
    internal static FileStream OpenProfile(string value, out TimeSpan interval)
    {
        var comma = value.LastIndexOf(',');
        var path = comma < 0 ? value : value[..comma];
        interval = GuestProfileOptions.DefaultInterval;
        if (comma >= 0)
        {
            if (!double.TryParse(value[(comma + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ms)
                || !(ms is > 0 and <= 60_000))
            {
                throw new UsageException($"{ProfileOption} '{value}': the interval must be a number of milliseconds in (0, 60000]");
            }

            interval = TimeSpan.FromMilliseconds(ms);
        }

        if (path.Length == 0)
        {
            throw new UsageException($"{ProfileOption} needs a file name");
        }

        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{ProfileOption} {path}: {e.Message}");
        }
    }

    private static byte[] ReadInput(string path, string option)
    {
        try
        {
            return InheritedFiles.ReadAll(path) ?? File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new UsageException($"{option} {path}: no such file");
        }
        catch (DirectoryNotFoundException)
        {
            throw new UsageException($"{option} {path}: no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new UsageException($"{option} {path}: permission denied");
        }
        catch (IOException e)
        {
            throw new UsageException($"{option} {path}: {e.Message}");
        }
    }
}
