using System.Globalization;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>The <c>sharpvisor run</c> argument list for a definition (docs/supervisor.md).</summary>
public static class VmProcessArguments
{
    /// <summary>
    /// The arguments; <paramref name="kvmDevice"/> (null: the VMM's default, /dev/kvm) is the KVM device it opens,
    /// <paramref name="restoreFrom"/> a snapshot it starts from (<c>--restore</c>) instead of booting the kernel,
    /// <paramref name="incoming"/> the socket on which it waits for a migration (<c>--incoming</c>) instead;
    /// <paramref name="vncPasswordFile"/> holds the password of the display's TCP ports.
    /// </summary>
    public static IReadOnlyList<string> Build(VmDefinition definition, string controlSocket, string consoleSocket, string? exitFile = null, string? kvmDevice = null,
        string? restoreFrom = null, string? incoming = null, string? displaySocket = null, string? vncPasswordFile = null)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var args = new List<string>
        {
            "run",
            "--cpus", definition.Vcpus.ToString(CultureInfo.InvariantCulture),
            "--memory", definition.MemoryMiB.ToString(CultureInfo.InvariantCulture) + "M",
        };

        if (definition.Kernel is { } kernel)
        {
            args.Add("--kernel");
            args.Add(kernel);
            if (definition.Initrd is { } initrd)
            {
                args.Add("--initrd");
                args.Add(initrd);
            }

            if (definition.Cmdline.Length > 0)
            {
                args.Add("--cmdline");
                args.Add(definition.Cmdline);
            }
        }
        else
        {
            // The built-in guest reads its scenario from the first word of its command line, its arguments after it.
            var scenario = definition.BuiltInGuest ?? throw new ArgumentException("the definition has neither a kernel nor a built-in guest", nameof(definition));
            args.Add("--cmdline");
            args.Add(definition.Cmdline.Length > 0 ? scenario + " " + definition.Cmdline : scenario);
        }

        foreach (var disk in definition.Disks)
        {
            // The VMM's --disk value is comma-separated: a comma in the path would be read as a setting.
            if (disk.Path.Contains(',', StringComparison.Ordinal))
            {
                throw new ArgumentException($"disk path '{disk.Path}' contains a comma, which --disk cannot carry", nameof(definition));
            }

            args.Add("--disk");
            args.Add(disk.Path + (disk.ReadOnly ? ",readonly" : "") + (disk.FormatName == "raw" ? "" : ",format=" + disk.FormatName));
        }

        foreach (var nic in definition.Nics)
        {
            args.Add("--net");
            args.Add(nic.Mac is null ? $"tap={nic.Tap}" : $"tap={nic.Tap},mac={nic.Mac}");
        }

        if (definition.Display is { } display)
        {
            // The VNC servers on the VM's own unix socket (beside the console's), where the manager reaches them.
            var spec = string.Create(CultureInfo.InvariantCulture, $"heads={display.Heads},size={display.Width}x{display.Height}");
            spec += displaySocket is null ? "" : ",vnc=" + displaySocket;
            spec += display.VncListen is null ? "" : ",listen=" + display.VncListen;
            spec += vncPasswordFile is null ? "" : ",password-file=" + vncPasswordFile;
            args.Add("--display");
            args.Add(spec);
        }

        args.Add("--console");
        args.Add(definition.Console);
        args.Add("--serial");
        args.Add("socket:" + consoleSocket);
        args.Add("--control");
        args.Add(controlSocket);
        if (exitFile is not null)
        {
            args.Add("--exit-file");
            args.Add(exitFile);
        }

        if (kvmDevice is not null)
        {
            args.Add("--kvm");
            args.Add(kvmDevice);
        }

        if (restoreFrom is not null)
        {
            args.Add("--restore");
            args.Add(restoreFrom);
        }

        if (incoming is not null)
        {
            args.Add("--incoming");
            args.Add(incoming);
        }

        return args;
    }
}
