using System.Net.Sockets;
using Sharpvisor.Vmm.Control;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A migration stream's end in a VMM: a unix socket the VMM listens on for one connection. VMMs open no network
/// connections of their own (their seccomp filter allows neither connect nor anything but AF_UNIX), so whoever
/// moves the VM (the manager, or socat by hand) connects to the source's and the destination's sockets and carries
/// the bytes between them, across hosts if need be: what libvirt calls a tunnelled migration.
/// </summary>
public static class MigrationSocket
{
    /// <summary>
    /// Listens on <paramref name="path"/> (mode 0600; a file already there is refused), takes the first connection
    /// within <paramref name="timeout"/>, and removes the socket file. The stream owns the connection.
    /// </summary>
    public static NetworkStream AcceptOne(string path, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var listener = UnixSocketListener.Listen(path, backlog: 1, replaceStale: false, out var fullPath);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                var connection = listener.AcceptAsync(deadline.Token).AsTask().GetAwaiter().GetResult();
                return new NetworkStream(connection, ownsSocket: true);
            }
            catch (OperationCanceledException)
            {
                throw new MigrationException(cancellationToken.IsCancellationRequested
                    ? $"stopped while waiting for a connection on {fullPath}"
                    : $"nobody connected to {fullPath} within {timeout.TotalSeconds:0} s");
            }
        }
        finally
        {
            File.Delete(fullPath);
        }
    }
}
