using System.Globalization;
using Sharpvisor.Api;

namespace Sharpvisor.Cli.Remote;

/// <summary>How <c>vm list</c>, <c>vm show</c> and <c>events</c> print for a person (<c>--json</c> prints the API's JSON instead).</summary>
internal static class VmText
{
    public static string List(IEnumerable<VmResource> vms) =>
        TextTable.Format(
            ["NAME", "STATE", "VCPUS", "MEMORY", "ID"],
            vms.Select(vm => (IReadOnlyList<string>)[vm.Name, vm.State, Number(vm.Vcpus), Memory(vm.MemoryMiB), Id(vm.Id)]));

    /// <summary>One "key: value" line per set field, values aligned; fields the VM does not have are left out.</summary>
    public static string Show(VmResource vm)
    {
        var fields = new List<(string Key, string? Value)>
        {
            ("name", vm.Name),
            ("id", Id(vm.Id)),
            ("state", vm.ExitReason is null ? vm.State : $"{vm.State} ({vm.ExitReason})"),
            ("template", vm.Template ? "yes: never runs; 'vm clone' makes VMs of it" : null),
            ("vcpus", Number(vm.Vcpus)),
            ("memory", Memory(vm.MemoryMiB)),
            ("kernel", vm.Kernel),
            ("guest", vm.BuiltInGuest is null ? null : $"built-in test guest, scenario {vm.BuiltInGuest}"),
            ("initrd", vm.Initrd),
            ("cmdline", vm.Cmdline.Length == 0 ? null : vm.Cmdline),
        };
        fields.AddRange(vm.Disks.Select((disk, i) => ($"disk{i}", (string?)(disk.Path
            + (disk.Format is null or "raw" ? "" : $" ({disk.Format})") + (disk.ReadOnly ? " (readonly)" : "")))));
        fields.AddRange(vm.Nics.Select((nic, i) => ($"net{i}", (string?)(nic.Mac is null ? $"tap {nic.Tap}" : $"tap {nic.Tap}, mac {nic.Mac}"))));
        fields.Add(("console", vm.Console));
        fields.Add(("pid", vm.Pid is { } pid ? Number(pid) : null));
        fields.Add(("started", vm.StartedAt is { } started ? Time(started) : null));
        fields.Add(("state since", Time(vm.StateChangedAt)));
        fields.Add(("created", Time(vm.CreatedAt)));
        fields.Add(("updated", Time(vm.UpdatedAt)));
        fields.Add(("version", Number(vm.Version)));

        var shown = fields.Where(f => f.Value is not null).ToList();
        var width = shown.Max(f => f.Key.Length) + 2;
        return string.Concat(shown.Select(f => $"{(f.Key + ":").PadRight(width)}{f.Value}\n"));
    }

    /// <summary>"TIME  VM  KIND  MESSAGE" for one event; <paramref name="vmName"/> is the id when the VM is gone.</summary>
    public static string Event(EventResource e, string vmName) =>
        $"{Time(e.Time)}  {vmName}  {e.Kind}  {e.Message}";

    /// <summary>In the units <c>--memory</c> takes: whole GiB as "4G", else MiB as "192M".</summary>
    public static string Memory(int mib) =>
        mib % 1024 == 0 ? $"{Number(mib / 1024)}G" : $"{Number(mib)}M";

    private static string Id(Guid id) => id.ToString("D");

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
