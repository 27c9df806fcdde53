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
            // Moved beside the destination first and checked there, out of the VMM's reach (it owns the directory the
            // file came from and could have put a link or a socket in its place): only a file that is a snapshot
            // replaces the one of that name, so a restore never hands a VMM a file it had no right to.
            var arriving = destination + ".arriving";
            File.Move(produced, arriving, overwrite: true);
            if (!IsSnapshotFile(arriving))
            {
                TryDelete(arriving);
                throw new VmControlException(vm.Id, "snapshot failed: the VMM left something other than a snapshot file");
            }

            File.SetUnixFileMode(arriving, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(arriving, destination, overwrite: true);
            await AppendEventAsync(vm.Id, $"snapshot written ({result.RamBytes >> 20} MiB of RAM)").ConfigureAwait(false);
            return result;
        }
        finally
        {
            vm.Gate.Release();
        }
    }

    /// <summary>
    /// A regular file, not a link, that starts like a saved state. Opening a socket fails and the VMM cannot make
    /// FIFOs or devices (its seccomp filter has no mknod), so nothing here blocks or reads another file.
    /// </summary>
    private static bool IsSnapshotFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.LinkTarget is not null)
        {
            return false;
        }

        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            Span<byte> magic = stackalloc byte[8];
            return file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) == magic.Length && magic.SequenceEqual("SVSTATE\0"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
