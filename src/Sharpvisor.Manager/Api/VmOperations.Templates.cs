using System.Globalization;
using Sharpvisor.Api;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Templates and thin clones (oVirt's "new VM from template", the VDI pool's one template and an overlay per user):
/// a clone is the template's definition under a new name with each writable disk a new qcow2 overlay over the
/// template's, beside it; a read-only disk is shared as it is. A template never runs and keeps its disks while any
/// VM's disk reads them, so no clone ever sees its backing change beneath it.
/// </summary>
public sealed partial class VmOperations
{
    /// <summary>Makes a thin clone of the template <paramref name="vm"/> named as <paramref name="spec"/> says.</summary>
    public async Task<VmResource> CloneAsync(string vm, CloneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var template = await ResolveAsync(vm).ConfigureAwait(false);
        if (!template.IsTemplate)
        {
            throw new TemplateConflictException(
                $"VM '{template.Name}' is not a template; make it one first (PUT {{\"template\": true}} while it is stopped), so that nothing writes the disks its clones read");
        }

        var name = spec.Name ?? throw new ApiValidationException("name", "is required");
        var clone = template with { Id = Guid.Empty, Name = name, IsTemplate = false, Nics = [], Version = 0 };
        if (clone.Validate() is { Count: > 0 } problems)
        {
            throw new VmValidationException(problems);
        }

        if (await store.GetByNameAsync(name).ConfigureAwait(false) is not null)
        {
            throw new VmNameConflictException(name);
        }

        // The template as it resolves now (its files checked): the overlays name its disks by their real paths.
        var resolved = CheckedAndResolved(template).Resolved;
        var created = new List<string>();
        try
        {
            var disks = resolved.Disks.Select((disk, i) => disk.ReadOnly ? disk : Overlay(disk, name, i, created)).ToList();
            var stored = await store.CreateAsync(Checked(clone with { Disks = disks })).ConfigureAwait(false);
            return await ResourceAsync(stored.Id).ConfigureAwait(false);
        }
        catch
        {
            foreach (var file in created)
            {
                File.Delete(file);
            }

            throw;
        }
    }

    /// <summary>A new qcow2 overlay over <paramref name="disk"/>, in its directory, for disk <paramref name="index"/> of <paramref name="clone"/>.</summary>
    private static DiskDefinition Overlay(DiskDefinition disk, string clone, int index, List<string> created)
    {
        var path = Path.Combine(Path.GetDirectoryName(disk.Path) ?? "/", string.Create(CultureInfo.InvariantCulture, $"{clone}-disk{index}.qcow2"));
        var size = disk.FormatName == "qcow2" ? Qcow2Image.ReadInfo(disk.Path).VirtualSize : (ulong)new FileInfo(disk.Path).Length;
        try
        {
            Qcow2Image.Create(path, size, backingFile: disk.Path, backingFormat: disk.FormatName);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new TemplateConflictException($"'{path}' already exists: a clone's overlay would replace it; delete or move it, or choose another name");
        }

        created.Add(path);
        return new DiskDefinition(path, ReadOnly: false, Format: "qcow2");
    }

    /// <summary>409 when <paramref name="template"/> is a template and a change would take away or let anyone write a disk its clones read.</summary>
    private async Task RequireNoClonesAsync(VmDefinition template, string action)
    {
        if (!template.IsTemplate)
        {
            return;
        }

        var clones = await ClonesOfAsync(template).ConfigureAwait(false);
        if (clones.Count > 0)
        {
            throw new TemplateConflictException(
                $"cannot {action} template '{template.Name}': the disks of {string.Join(", ", clones.Select(c => $"'{c}'"))} are overlays over its disks");
        }
    }

    /// <summary>The names of the VMs one of whose qcow2 disks reads one of <paramref name="template"/>'s disks somewhere down its chain.</summary>
    private async Task<IReadOnlyList<string>> ClonesOfAsync(VmDefinition template)
    {
        var disks = template.Disks.Select(d => HostFile.RealPath(d.Path) ?? d.Path).ToHashSet(StringComparer.Ordinal);
        var guard = VmHostChecks.BackingGuard(VmHostChecks.Checker(options.EffectiveStorageRoots, options.DataDirectory));
        var clones = new List<string>();
        foreach (var entry in await store.ListAsync(null).ConfigureAwait(false))
        {
            if (entry.Definition.Id != template.Id && entry.Definition.Disks.Any(d => d.FormatName == "qcow2" && ReadsAny(d.Path, disks, guard)))
            {
                clones.Add(entry.Definition.Name);
            }
        }

        return clones;
    }

    private static bool ReadsAny(string overlay, HashSet<string> files, Func<string, Microsoft.Win32.SafeHandles.SafeFileHandle?> guard)
    {
        try
        {
            return Qcow2Image.BackingFiles(overlay, guard).Any(b => files.Contains(HostFile.RealPath(b.Path) ?? b.Path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false; // an image that cannot be read now cannot run either; it keeps nothing from changing
        }
    }

    /// <summary>
    /// 409 when <paramref name="definition"/> (paths resolved) would write a template's disk: every clone reads it
    /// beneath its overlay, and a write to it would change their disks under them.
    /// </summary>
    private async Task RequireNoTemplateDiskWrittenAsync(VmDefinition definition)
    {
        var written = definition.Disks.Where(d => !d.ReadOnly).Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        if (written.Count == 0)
        {
            return;
        }

        foreach (var entry in await store.ListAsync(null).ConfigureAwait(false))
        {
            var template = entry.Definition;
            if (template.IsTemplate && template.Id != definition.Id
                && template.Disks.FirstOrDefault(d => written.Contains(HostFile.RealPath(d.Path) ?? d.Path)) is { } disk)
            {
                throw new TemplateConflictException(
                    $"'{disk.Path}' is a disk of template '{template.Name}', which its clones read: give it read-only, or use a clone");
            }
        }
    }

    /// <summary>409 for a template: it never runs.</summary>
    private static void RequireNotTemplate(VmDefinition definition)
    {
        if (definition.IsTemplate)
        {
            throw new TemplateConflictException(
                $"VM '{definition.Name}' is a template and never runs (its clones read its disks); make a VM of it with POST /api/v1/vms/{definition.Name}/clone");
        }
    }
}
