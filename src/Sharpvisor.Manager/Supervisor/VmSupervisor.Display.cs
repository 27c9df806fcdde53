using Sharpvisor.Control;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>A supervised VM's screens: where its VNC servers listen, and its pictures, taken by its VMM.</summary>
public sealed partial class VmSupervisor
{
    // A screenshot is a PNG of at most 256 MiB of framebuffer: 8-bit RGB of that, compressed, is smaller.
    private const long MaxScreenshotBytes = 256L << 20;

    private static readonly TimeSpan DisplayRequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Head 0's VNC socket in the VM's own directory (head N at this plus ".N"), beside its console.</summary>
    public string DisplaySocketPath(Guid id) => Path.Combine(VmDirectory(id), "vm.vnc");

    /// <summary>
    /// The VM's VNC password for its VMM (the first line of VMDIR/vnc-password, mode 0600, opened for the jailed VMM by
    /// its jail), written before each start; removed, and null, when the definition has none.
    /// </summary>
    private string? WriteVncPassword(Guid id, Store.DisplayDefinition? display)
    {
        var path = Path.Combine(VmDirectory(id), VmmJail.VncPasswordFile);
        File.Delete(path);
        if (display?.VncPassword is not { } password)
        {
            return null;
        }

        using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        file.Write(System.Text.Encoding.ASCII.GetBytes(password + "\n"));
        return path;
    }

    /// <summary>
    /// A connection to head <paramref name="head"/>'s VNC server on the VM's own socket, checked to be served by its VMM
    /// (as the console's); null when the VM has no VMM process now.
    /// </summary>
    public async Task<System.Net.Sockets.Socket?> ConnectDisplayAsync(Guid id, int head, CancellationToken cancellationToken)
    {
        if (!_vms.TryGetValue(id, out var vm) || vm.Run is not { Pid: > 0 } run)
        {
            return null;
        }

        var path = head == 0 ? DisplaySocketPath(id) : $"{DisplaySocketPath(id)}.{head}";
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            SocketPeer.Expect(socket, run.Pid, "the display socket");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The VMM's answer to <c>display</c>: each head's size and listeners.</summary>
    public async Task<DisplayResult> DisplayAsync(Guid id, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DisplayRequestTimeout);
        try
        {
            using var client = await ConnectControlAsync(id, timeout.Token).ConfigureAwait(false)
                ?? throw new VmControlException(id, "it has no VMM process (start it first)");
            return await client.DisplayAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            throw new VmControlException(id, $"display failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Head <paramref name="head"/>'s picture as PNG bytes: the VMM writes it into its own directory (the only one it may
    /// write), the manager reads it from there only if it is a regular file of a bounded size (the VMM could have put a
    /// link or a FIFO in its place), and removes it.
    /// </summary>
    public async Task<byte[]> ScreenshotAsync(Guid id, int head, CancellationToken cancellationToken = default)
    {
        var produced = Path.Combine(VmDirectory(id), "screenshot.png");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DisplayRequestTimeout);
        try
        {
            using var client = await ConnectControlAsync(id, timeout.Token).ConfigureAwait(false)
                ?? throw new VmControlException(id, "it has no VMM process (start it first)");
            await client.ScreenshotAsync(produced, head, timeout.Token).ConfigureAwait(false);
            var file = new FileInfo(produced);
            if (!file.Exists || file.LinkTarget is not null || file.Length > MaxScreenshotBytes)
            {
                throw new VmControlException(id, "screenshot failed: the VMM left something other than a picture");
            }

            await using var stream = new FileStream(produced, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
            var bytes = new byte[stream.Length];
            await stream.ReadExactlyAsync(bytes, timeout.Token).ConfigureAwait(false);
            return bytes;
        }
        catch (Exception e) when (IsControlFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            throw new VmControlException(id, $"screenshot failed: {e.Message}", e);
        }
        finally
        {
            TryDelete(produced);
        }
    }
}
