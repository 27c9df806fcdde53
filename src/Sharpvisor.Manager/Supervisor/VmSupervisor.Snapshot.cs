using Sharpvisor.Control;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>Snapshots of a supervised VM: taken by its VMM into its own directory, then moved where the manager keeps them.</summary>
public sealed partial class VmSupervisor
{
    // Writing all of a large guest's RAM takes far longer than a control request: a snapshot gets its own ceiling.
    private static readonly TimeSpan SnapshotTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Has the running (or paused) VM's VMM write a snapshot into its own directory (the only one it may write, when
    /// confined), and moves it to <paramref name="destination"/>, replacing what is there. The VM goes on as it was.
    /// Returns the VMM's answer (the RAM bytes written).
    /// </summary>
    public async Task<SnapshotResult> SnapshotAsync(Guid id, string destination, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        var vm = Lookup(id, "snapshot");
        await vm.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var run = RequireState(vm, "snapshot", VmState.Running, VmState.Paused);
            var produced = Path.Combine(VmDirectory(id), "vm.snapshot");
            TryDelete(produced);
            SnapshotResult result;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(SnapshotTimeout);
                using var client = await ConnectCheckedAsync(run, timeout.Token).ConfigureAwait(false);
                result = await client.SnapshotAsync(produced, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                TryDelete(produced);
                throw new VmControlException(vm.Id, $"snapshot failed: {e.Message}", e);
            }

            Directory.CreateDirectory(Path.GetDirectoryName(destination)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.Move(produced, destination, overwrite: true);
            // Checked once it is out of the VMM's reach (it owns the directory the file came from and could have put a
            // link there): only a regular file is kept, so a restore never hands a VMM a file it had no right to.
            var kept = new FileInfo(destination);
            if (kept.LinkTarget is not null || (kept.Attributes & (FileAttributes.Directory | FileAttributes.Device)) != 0)
            {
                TryDelete(destination);
                throw new VmControlException(vm.Id, "snapshot failed: the VMM left something other than a regular file");
            }

            File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await AppendEventAsync(vm.Id, $"snapshot written ({result.RamBytes >> 20} MiB of RAM)").ConfigureAwait(false);
            return result;
        }
        finally
        {
            vm.Gate.Release();
        }
    }
}
