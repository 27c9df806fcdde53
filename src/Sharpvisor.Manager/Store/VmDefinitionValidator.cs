using System.Globalization;
using System.Text;
using Sharpvisor.Api;
using Sharpvisor.Control;
using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Manager.Store;

internal static class VmDefinitionValidator
{
    public static IReadOnlyList<ValidationProblem> Validate(VmDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var problems = new List<ValidationProblem>();
        void Add(string field, string message) => problems.Add(new ValidationProblem(field, message));

        if (NameProblem(definition.Name) is { } nameProblem)
        {
            Add("name", nameProblem);
        }

        if (definition.Vcpus is < VmLimits.MinVcpus or > VmLimits.MaxVcpus)
        {
            Add("vcpus", $"must be between {VmLimits.MinVcpus} and {VmLimits.MaxVcpus}");
        }

        if (definition.MemoryMiB is < VmLimits.MinMemoryMiB or > VmLimits.MaxMemoryMiB)
        {
            Add("memoryMiB", $"must be between {VmLimits.MinMemoryMiB} and {VmLimits.MaxMemoryMiB}");
        }

        var hasKernel = definition.Kernel is not null;
        var hasBuiltIn = definition.BuiltInGuest is not null;
        if (hasKernel && hasBuiltIn)
        {
            Add("kernel", "give either kernel or builtInGuest, not both");
        }
        else if (!hasKernel && !hasBuiltIn)
        {
            Add("kernel", "either kernel or builtInGuest is required");
        }

        if (hasKernel && PathProblem(definition.Kernel!) is { } kernelProblem)
        {
            Add("kernel", kernelProblem);
        }

        if (hasBuiltIn && ScenarioProblem(definition.BuiltInGuest!) is { } scenarioProblem)
        {
            Add("builtInGuest", scenarioProblem);
        }

        if (definition.Initrd is not null)
        {
            if (hasBuiltIn && !hasKernel)
            {
                Add("initrd", "only a kernel takes an initrd, not the built-in guest");
            }
            else if (PathProblem(definition.Initrd) is { } initrdProblem)
            {
                Add("initrd", initrdProblem);
            }
        }

        if (definition.Cmdline is null)
        {
            Add("cmdline", "must not be null (use \"\")");
        }
        else if (definition.Cmdline.Contains('\0', StringComparison.Ordinal))
        {
            Add("cmdline", "must not contain NUL characters");
        }
        else if (Encoding.UTF8.GetByteCount(definition.Cmdline) > VmLimits.MaxCmdlineBytes)
        {
            Add("cmdline", $"must be at most {VmLimits.MaxCmdlineBytes} bytes in UTF-8");
        }

        ValidateDisks(definition.Disks, Add);
        ValidateNics(definition.Nics, Add);
        if (definition.Disks is not null && definition.Nics is not null && definition.Disks.Count + definition.Nics.Count > VmLimits.MaxDisksAndNics)
        {
            Add("disks", $"at most {VmLimits.MaxDisksAndNics} disks and NICs together (they share the root PCI bus)");
        }
        else if (definition.Display is not null && definition.Disks is not null && definition.Nics is not null
            && definition.Disks.Count + definition.Nics.Count > VmLimits.MaxDisksAndNicsWithDisplay)
        {
            Add("disks", $"at most {VmLimits.MaxDisksAndNicsWithDisplay} disks and NICs together with a display (it takes three PCI slots)");
        }

        if (definition.Console is not (VmConsoles.Serial or VmConsoles.Virtio))
        {
            Add("console", $"must be \"{VmConsoles.Serial}\" or \"{VmConsoles.Virtio}\"");
        }

        if (definition.Display is { } display)
        {
            ValidateDisplay(display, Add);
        }

        return problems;
    }

    public static string? NameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is required";
        }

        if (name.Length > VmLimits.MaxNameLength)
        {
            return $"must be at most {VmLimits.MaxNameLength} characters";
        }

        if (!char.IsAsciiLetterLower(name[0]) || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            return "must be lowercase letters, digits and '-', starting with a letter";
        }

        return null;
    }

    private static void ValidateDisplay(DisplayDefinition display, Action<string, string> add)
    {
        if (display.Heads is < 1 or > VmLimits.MaxDisplayHeads)
        {
            add("display.heads", $"must be between 1 and {VmLimits.MaxDisplayHeads}");
        }

        if (display.Width is < 1 or > VmLimits.MaxDisplaySide || display.Height is < 1 or > VmLimits.MaxDisplaySide)
        {
            add("display.width", $"width and height must be between 1 and {VmLimits.MaxDisplaySide}");
        }
        else if ((long)Math.Clamp(display.Heads, 1, VmLimits.MaxDisplayHeads) * display.Width * display.Height * 4 > VmLimits.MaxDisplayBytes)
        {
            add("display.width", $"{display.Heads} heads of {display.Width}x{display.Height} take over the {VmLimits.MaxDisplayBytes >> 20} MiB a VM's screens may");
        }

        if (display.VncListen is { } listen
            && (!System.Net.IPEndPoint.TryParse(listen, out var endpoint) || !System.Net.IPAddress.IsLoopback(endpoint.Address)
                || endpoint.Port + Math.Clamp(display.Heads, 1, VmLimits.MaxDisplayHeads) - 1 > System.Net.IPEndPoint.MaxPort))
        {
            add("display.vncListen", "must be a loopback HOST:PORT (127.0.0.1:5901) with a port for every head, or null");
        }

        // Printable ASCII only: VNC authentication keys DES with the first 8 bytes, and no such password makes a weak key.
        if (display.VncPassword is { } password && (password.Length is < 1 or > VmLimits.MaxVncPasswordLength || password.Any(c => c is < ' ' or > '~')))
        {
            add("display.vncPassword", $"must be 1 to {VmLimits.MaxVncPasswordLength} printable ASCII characters (VNC authentication uses no more), or null");
        }
    }

    private static void ValidateDisks(IReadOnlyList<DiskDefinition>? disks, Action<string, string> add)
    {
        if (disks is null)
        {
            add("disks", "must not be null (use [])");
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < disks.Count; i++)
        {
            var field = string.Create(CultureInfo.InvariantCulture, $"disks[{i}].path");
            if (disks[i] is not { } disk)
            {
                add(string.Create(CultureInfo.InvariantCulture, $"disks[{i}]"), "must not be null");
            }
            else if (PathProblem(disk.Path) is { } problem)
            {
                add(field, problem);
            }
            else if (disk.Path.Contains(',', StringComparison.Ordinal))
            {
                // The VMM's --disk value separates its settings with commas (as QEMU's -drive does).
                add(field, "must not contain a comma (rename the file or link to it from a path without one)");
            }
            else if (!seen.Add(disk.Path))
            {
                add(field, "names the same file as an earlier disk");
            }
            else if (disk.Format is not (null or "raw" or "qcow2"))
            {
                add(string.Create(CultureInfo.InvariantCulture, $"disks[{i}].format"), "must be raw or qcow2 (or left out: raw)");
            }
        }
    }

    private static void ValidateNics(IReadOnlyList<NicDefinition>? nics, Action<string, string> add)
    {
        if (nics is null)
        {
            add("nics", "must not be null (use [])");
            return;
        }

        var taps = new HashSet<string>(StringComparer.Ordinal);
        var macs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < nics.Count; i++)
        {
            if (nics[i] is not { } nic)
            {
                add(string.Create(CultureInfo.InvariantCulture, $"nics[{i}]"), "must not be null");
                continue;
            }

            var tapField = string.Create(CultureInfo.InvariantCulture, $"nics[{i}].tap");
            if (!IsValidTapName(nic.Tap))
            {
                add(tapField, "must be a valid interface name (1-15 letters, digits, '-', '_', '.')");
            }
            else if (!taps.Add(nic.Tap))
            {
                add(tapField, "names the same TAP as an earlier NIC");
            }

            if (nic.Mac is not null)
            {
                var macField = string.Create(CultureInfo.InvariantCulture, $"nics[{i}].mac");
                if (MacAddress.Parse(nic.Mac) is null)
                {
                    add(macField, "must be six hex bytes like 02:00:00:00:00:01, unicast");
                }
                else if (!macs.Add(nic.Mac))
                {
                    add(macField, "is the same as an earlier NIC's");
                }
            }
        }
    }

    private static bool IsValidTapName(string? name)
    {
        if (name is null)
        {
            return false;
        }

        try
        {
            TapDevice.ValidateName(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string? PathProblem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "is required";
        }

        if (path[0] != '/')
        {
            // The manager starts VMs from its own working directory, which is no business of the client's.
            return "must be an absolute path";
        }

        if (path.Contains('\n', StringComparison.Ordinal) || path.Contains('\r', StringComparison.Ordinal))
        {
            return "must not contain a line break";
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return "must not contain NUL characters";
        }

        return Encoding.UTF8.GetByteCount(path) > VmLimits.MaxPathBytes ? $"must be at most {VmLimits.MaxPathBytes} bytes" : null;
    }

    private static string? ScenarioProblem(string scenario) =>
        scenario.Length is 0 or > VmLimits.MaxScenarioLength
        || !char.IsAsciiLetterLower(scenario[0])
        || !scenario.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            ? $"must be a scenario name: 1-{VmLimits.MaxScenarioLength} lowercase letters, digits and '-' (e.g. hello)"
            : !BuiltInGuestScenarios.IsKnown(scenario)
                ? $"'{scenario}' is not a scenario of the built-in guest (one of: {string.Join(", ", BuiltInGuestScenarios.Names)})"
                : null;
}
