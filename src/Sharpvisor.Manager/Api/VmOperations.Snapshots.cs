using System.Text.RegularExpressions;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>Snapshots: taken of a running or paused VM, kept in DATA/snapshots/VM-ID/NAME.snap, started from later.</summary>
public sealed partial class VmOperations
{
    private const string SnapshotExtension = ".snap";

    /// <summary>Where the VM's snapshots live (the manager's alone: mode 0700).</summary>
    public string SnapshotDirectory(Guid id) => Path.Combine(options.DataDirectory, "snapshots", id.ToString("D"));

    /// <summary>Writes a snapshot of the VM (running or paused; it goes on as it was unless <see cref="SnapshotSpec.Stop"/>).</summary>
    public async Task<SnapshotResource> SnapshotAsync(string vm, SnapshotSpec spec, TimeSpan stopTimeout)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var name = CheckSnapshotName(spec.Name);
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            await RequireSupervisedAsync(id, "snapshot", VmState.Running, VmState.Paused).ConfigureAwait(false);
            var path = SnapshotPath(id, name);
            var taken = await supervisor.SnapshotAsync(id, path, CancellationToken.None).ConfigureAwait(false);
            if (spec.Stop)
            {
                await supervisor.StopAsync(id, stopTimeout, CancellationToken.None).ConfigureAwait(false);
            }

            return ToResource(id, new FileInfo(path)) with { RamBytes = taken.RamBytes };
        }).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SnapshotResource>> ListSnapshotsAsync(string vm)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        var directory = new DirectoryInfo(SnapshotDirectory(id));
        return directory.Exists
            ? [.. directory.EnumerateFiles("*" + SnapshotExtension).Where(f => f.LinkTarget is null).OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => ToResource(id, f))]
            : [];
    }

    /// <summary>Starts the VM (which must not be running) from its snapshot <paramref name="name"/> instead of booting it.</summary>
    public async Task<VmResource> RestoreAsync(string vm, string name)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        var path = ExistingSnapshot(vm, id, name);
        return await SerializedAsync(id, async () =>
        {
            await StartUnderGateAsync(id, path).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    public async Task DeleteSnapshotAsync(string vm, string name)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        var path = ExistingSnapshot(vm, id, name);
        await SerializedAsync(id, () =>
        {
            File.Delete(path);
            return Task.FromResult(true);
        }).ConfigureAwait(false);
    }

    private string SnapshotPath(Guid id, string name) => Path.Combine(SnapshotDirectory(id), name + SnapshotExtension);

    private string ExistingSnapshot(string vm, Guid id, string name)
    {
        var path = SnapshotPath(id, CheckSnapshotName(name));
        var file = new FileInfo(path);
        return file.Exists && file.LinkTarget is null ? path : throw new UnknownSnapshotException(vm, name);
    }

    private static string CheckSnapshotName(string? name) =>
        name is not null && SnapshotName().IsMatch(name)
            ? name
            : throw new ApiValidationException("name", "must be 1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit");

    private static SnapshotResource ToResource(Guid id, FileInfo file) => new()
    {
        Name = Path.GetFileNameWithoutExtension(file.Name),
        VmId = id,
        SizeBytes = file.Length,
        CreatedAt = file.LastWriteTimeUtc,
    };

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex SnapshotName();
}
