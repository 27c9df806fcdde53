using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>Between the API's JSON types and the store's: defaults on create, "omitted keeps its value" on update.</summary>
internal static class VmMapping
{
    /// <summary>A new definition from a create body; the API's defaults fill what it leaves out.</summary>
    public static VmDefinition ToNewDefinition(VmSpec spec) => new()
    {
        Name = spec.Name ?? "",
        Vcpus = spec.Vcpus ?? 1,
        MemoryMiB = spec.MemoryMiB ?? 256,
        Kernel = spec.Kernel,
        BuiltInGuest = spec.BuiltInGuest,
        Initrd = spec.Initrd,
        Cmdline = spec.Cmdline ?? "",
        Disks = ToDisks(spec.Disks) ?? [],
        Nics = ToNics(spec.Nics) ?? [],
        Console = spec.Console ?? VmConsoles.Serial,
        Display = ToDisplay(spec.Display),
        IsTemplate = spec.Template ?? false,
    };

    /// <summary>
    /// <paramref name="current"/> with what <paramref name="spec"/> gives. Giving a kernel drops the built-in guest and
    /// the other way round (a VM boots one or the other), so switching needs no explicit null.
    /// </summary>
    public static VmDefinition Merge(VmDefinition current, VmSpec spec)
    {
        var kernel = current.Kernel;
        var builtIn = current.BuiltInGuest;
        var initrd = current.Initrd;
        if (spec.Kernel is not null && spec.BuiltInGuest is null)
        {
            builtIn = null;
        }
        else if (spec.BuiltInGuest is not null && spec.Kernel is null)
        {
            kernel = null;
            initrd = null;
        }

        return current with
        {
            Name = spec.Name ?? current.Name,
            Vcpus = spec.Vcpus ?? current.Vcpus,
            MemoryMiB = spec.MemoryMiB ?? current.MemoryMiB,
            Kernel = spec.Kernel ?? kernel,
            BuiltInGuest = spec.BuiltInGuest ?? builtIn,
            Initrd = spec.Initrd ?? initrd,
            Cmdline = spec.Cmdline ?? current.Cmdline,
            Disks = ToDisks(spec.Disks) ?? current.Disks,
            Nics = ToNics(spec.Nics) ?? current.Nics,
            Console = spec.Console ?? current.Console,
            Display = spec.Display is null ? current.Display : ToDisplay(spec.Display, current.Display?.VncPassword),
            IsTemplate = spec.Template ?? current.IsTemplate,
            Version = spec.Version ?? current.Version,
        };
    }

    /// <summary>The create body that defines <paramref name="definition"/> on another manager (a migration's destination).</summary>
    public static VmSpec ToSpec(VmDefinition definition) => new()
    {
        Name = definition.Name,
        Vcpus = definition.Vcpus,
        MemoryMiB = definition.MemoryMiB,
        Kernel = definition.Kernel,
        BuiltInGuest = definition.BuiltInGuest,
        Initrd = definition.Initrd,
        Cmdline = definition.Cmdline,
        Disks = [.. definition.Disks.Select(ToSpec)],
        Nics = [.. definition.Nics.Select(n => new NicSpec(n.Tap, n.Mac))],
        Console = definition.Console,
        Display = ToSpec(definition.Display, withPassword: true),
    };

    public static VmResource ToResource(VmDefinition definition, VmRuntimeState state, int? pid) => new()
    {
        Id = definition.Id,
        Name = definition.Name,
        Vcpus = definition.Vcpus,
        MemoryMiB = definition.MemoryMiB,
        Kernel = definition.Kernel,
        BuiltInGuest = definition.BuiltInGuest,
        Initrd = definition.Initrd,
        Cmdline = definition.Cmdline,
        Disks = [.. definition.Disks.Select(ToSpec)],
        Nics = [.. definition.Nics.Select(n => new NicSpec(n.Tap, n.Mac))],
        Console = definition.Console,
        Display = ToSpec(definition.Display, withPassword: false),
        Template = definition.IsTemplate,
        Version = definition.Version,
        CreatedAt = definition.CreatedAt,
        UpdatedAt = definition.UpdatedAt,
        State = state.State.ToName(),
        ExitReason = state.ExitReason,
        StateChangedAt = state.ChangedAt,
        StartedAt = state.StartedAt,
        Pid = IsActive(state.State) ? pid : null,
    };

    public static EventResource ToResource(VmEvent e) => new(e.Id, e.VmId, e.Time, e.Kind, e.Message);

    /// <summary>A VMM process exists (or is being made) for the VM.</summary>
    public static bool IsActive(VmState state) => state is VmState.Starting or VmState.Running or VmState.Paused or VmState.Stopping;

    // A null item (JSON "disks": [null]) stays null: the validator names it ("disks[0]: must not be null").
    private static List<DiskDefinition>? ToDisks(IReadOnlyList<DiskSpec>? disks) =>
        disks?.Select(d => d is null ? null! : new DiskDefinition(d.Path, d.ReadOnly, d.Format)).ToList();

    private static DiskSpec ToSpec(DiskDefinition disk) => new(disk.Path, disk.ReadOnly, disk.FormatName);

    /// <summary>
    /// No spec, or 0 heads (an update removing it): no display. A null password keeps <paramref name="currentPassword"/>
    /// (answers never show it, so a client sending back what it read must not wipe it); "" removes it.
    /// </summary>
    private static DisplayDefinition? ToDisplay(DisplaySpec? display, string? currentPassword = null) =>
        display is null || display.Heads == 0
            ? null
            : new DisplayDefinition(
                display.Heads, display.Width, display.Height, display.VncListen,
                display.VncPassword is null ? currentPassword : display.VncPassword.Length == 0 ? null : display.VncPassword);

    /// <summary>The API's view: the password itself only for another manager (a migration's destination).</summary>
    private static DisplaySpec? ToSpec(DisplayDefinition? display, bool withPassword) =>
        display is null
            ? null
            : new DisplaySpec(
                display.Heads, display.Width, display.Height, display.VncListen,
                withPassword ? display.VncPassword : null, display.VncPassword is not null);

    private static List<NicDefinition>? ToNics(IReadOnlyList<NicSpec>? nics) =>
        nics?.Select(n => n is null ? null! : new NicDefinition(n.Tap, n.Mac)).ToList();
}
