using System.Globalization;
using Sharpvisor.Api;
using Sharpvisor.Storage;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>vm create</c>'s flags, which are <c>run</c>'s (same names, same parsers: <see cref="SizeParser"/>,
/// <see cref="DeviceOptions"/>), turned into the API's <see cref="VmSpec"/>. Ranges (vCPUs, memory, names) are the
/// daemon's to judge: its 400 names the field and exits 2 like any usage error.
/// </summary>
internal static class VmSpecOptions
{
    public static readonly IReadOnlyList<string> ValueOptions =
        ["--cpus", "--memory", "--kernel", "--guest", "--initrd", "--cmdline", "--disk", "--net", "--console", "--display"];

    public static VmSpec Parse(string name, ArgumentReader options)
    {
        var kernel = options.Get("--kernel");
        var guest = options.Get("--guest");
        if (kernel is not null && guest is not null)
        {
            throw new UsageException("give --kernel PATH or --guest SCENARIO, not both");
        }

        return new VmSpec
        {
            Name = name,
            Vcpus = options.Has("--cpus") ? options.GetInt("--cpus", 0) : null,
            MemoryMiB = options.Get("--memory") is { } memory ? MemoryMiB(memory) : null,
            // The daemon opens the files, from its own working directory: send absolute paths.
            Kernel = kernel is null ? null : FullPath(kernel, "--kernel"),
            BuiltInGuest = guest,
            Initrd = options.Get("--initrd") is { } initrd ? FullPath(initrd, "--initrd") : null,
            Cmdline = options.Get("--cmdline"),
            Disks = options.Has("--disk") ? [.. options.GetAll("--disk").Select(Disk)] : null,
            Nics = options.Has("--net") ? [.. options.GetAll("--net").Select(Nic)] : null,
            Console = options.Get("--console") is { } console && console is not ("serial" or "virtio")
                ? throw new UsageException($"--console '{console}' must be serial or virtio")
                : options.Get("--console"),
            Display = options.Get("--display") is { } display ? Display(display) : null,
        };
    }

    /// <summary>
    /// run's --display, less the VNC socket, which the daemon places itself; a password file's first line is sent as
    /// the VM's VNC password (the daemon keeps it and never shows it).
    /// </summary>
    private static DisplaySpec Display(string spec)
    {
        var display = DisplayOptions.Parse(spec);
        if (display.VncSocket is not null)
        {
            throw new UsageException($"--display '{spec}': the daemon places the VNC socket (use heads=, size=, listen=, password-file=)");
        }

        string? password = null;
        if (display.PasswordFile is { } file)
        {
            try
            {
                password = File.ReadLines(file).FirstOrDefault()?.TrimEnd('\r') ?? "";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--display password-file {file}: {e.Message}");
            }

            if (password.Length == 0)
            {
                throw new UsageException($"--display password-file {file}: its first line must be the password");
            }
        }

        return new DisplaySpec(display.Heads, display.Width, display.Height, display.Listen?.ToString(), password);
    }

    /// <summary>
    /// A daemon's 400 line ("memoryMiB: must be between 16 and 65536") in the terms the user typed
    /// ("--memory 1T: must be between 16M and 64G"): the flag, the value given, sizes as --memory takes them.
    /// </summary>
    public static string InFlagTerms(string problem, ArgumentReader options)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(options);
        var colon = problem.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0)
        {
            return problem;
        }

        var field = problem[..colon];
        var message = problem[(colon + 2)..]
            .Replace("either kernel or builtInGuest", "either --kernel or --guest", StringComparison.Ordinal)
            .Replace("kernel or builtInGuest", "--kernel or --guest", StringComparison.Ordinal)
            .Replace("builtInGuest", "--guest", StringComparison.Ordinal);
        var bracket = field.IndexOf('[', StringComparison.Ordinal);
        var index = bracket > 0 && int.TryParse(field.AsSpan(bracket + 1, Math.Max(0, field.IndexOf(']', StringComparison.Ordinal) - bracket - 1)), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : -1;
        var flag = (bracket > 0 ? field[..bracket] : field) switch
        {
            "name" => "NAME",
            "vcpus" => "--cpus",
            "memoryMiB" => "--memory",
            "kernel" => "--kernel",
            "builtInGuest" => "--guest",
            "initrd" => "--initrd",
            "cmdline" => "--cmdline",
            "disks" => "--disk",
            "nics" => "--net",
            "console" => "--console",
            "display.heads" or "display.width" or "display.vncListen" or "display.vncPassword" => "--display",
            _ => null,
        };
        if (flag is null)
        {
            return problem;
        }

        if (flag == "--memory" && message.StartsWith("must be between", StringComparison.Ordinal))
        {
            message = $"must be between {VmLimits.MinMemoryMiB}M and {VmLimits.MaxMemoryMiB / 1024}G";
        }

        var values = flag == "NAME" ? options.Positionals : options.GetAll(flag);
        var value = index >= 0 ? (index < values.Count ? values[index] : null) : values.Count > 0 ? values[^1] : null;
        return value is null ? $"{flag}: {message}" : $"{flag} '{value}': {message}";
    }

    private static int MemoryMiB(string text)
    {
        var bytes = SizeParser.Parse(text, "--memory");
        if (bytes % (1UL << 20) != 0)
        {
            throw new UsageException($"--memory '{text}' must be a whole number of MiB");
        }

        return bytes >> 20 <= int.MaxValue ? (int)(bytes >> 20) : throw new UsageException($"--memory '{text}' is too large");
    }

    private static DiskSpec Disk(string spec)
    {
        var disk = DeviceOptions.ParseDisk(spec);
        return disk.Id is null
            ? new DiskSpec(FullPath(disk.Path, "--disk"), disk.ReadOnly, disk.Format == DiskFormat.Qcow2 ? "qcow2" : null)
            : throw new UsageException($"--disk '{spec}': id= is not supported by the manager (only by run)");
    }

    /// <summary>A <c>--net tap=NAME[,mac=MAC]</c> value as the API takes it.</summary>
    internal static NicSpec Nic(string spec)
    {
        var nic = DeviceOptions.ParseNet(spec);
        return new NicSpec(nic.TapName, nic.Mac is null ? null : Control.NicAddresses.Format(nic.Mac));
    }

    private static string FullPath(string path, string option)
    {
        try
        {
            return Path.GetFullPath(path);
        }
        catch (ArgumentException)
        {
            throw new UsageException($"{option} '{path}' is not a valid path");
        }
    }
}
