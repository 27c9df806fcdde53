using System.Net.Sockets;

namespace Sharpvisor.Vmm.Control;

/// <summary>Binds the VMM's unix stream sockets (control, console): mode 0600 from the start, stale files replaced.</summary>
public static class UnixSocketListener
{
    /// <summary>
    /// Listens on <paramref name="path"/> (made absolute in <paramref name="fullPath"/>). A socket file already there
    /// is replaced unless a process still accepts connections on it (then this throws <see cref="IOException"/>), as
    /// is any other non-directory file: the path was named for this socket. Too long a path throws IOException too.
    /// </summary>
    public static Socket Listen(string path, int backlog, out string fullPath) => Listen(path, backlog, replaceStale: true, out fullPath);

    /// <summary>
    /// As above; with <paramref name="replaceStale"/> false an existing file is an <see cref="IOException"/> instead
    /// (what a VMM already under its seccomp filter needs: telling a stale socket from a live one takes a connect).
    /// </summary>
    public static Socket Listen(string path, int backlog, bool replaceStale, out string fullPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        fullPath = Path.GetFullPath(path);
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(fullPath);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new IOException("the path is too long for a unix socket (at most 107 bytes)");
        }

        if (replaceStale)
        {
            RemoveStale(fullPath, endPoint);
        }
        else if (Path.Exists(fullPath))
        {
            throw new IOException("a file is already there");
        }

        // The file appears at bind, but connections are refused until listen: a client that polls for the file
        // (every test, the supervisor) could meet it in between. So the socket is bound under a hidden name beside
        // the final one and renamed into place once it listens; a rename is atomic and keeps the socket bound.
        var staging = StagingPath(fullPath);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(staging.EndPoint);
            // Before listen: until then nobody can connect, so there is no moment with looser permissions.
            File.SetUnixFileMode(staging.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(backlog);
            if (staging.Path != fullPath)
            {
                File.Move(staging.Path, fullPath, overwrite: true);
            }
        }
        catch (SocketException e)
        {
            listener.Dispose();
            TryDelete(staging.Path, fullPath);
            throw new IOException(e.Message, e);
        }
        catch
        {
            listener.Dispose();
            TryDelete(staging.Path, fullPath);
            throw;
        }

        return listener;
    }

    /// <summary>
    /// The next connection on <paramref name="listener"/>, or null once it is closed or <paramref name="cancellationToken"/>
    /// is cancelled. A failure that passes (EMFILE and the like) is reported to <paramref name="logFailure"/> and retried
    /// after a breath: the VMM itself is not affected.
    /// </summary>
    public static async Task<Socket?> AcceptAsync(Socket listener, Action<string> logFailure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(logFailure);
        while (true)
        {
            try
            {
                return await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException
                || e is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
            {
                return null;
            }
            catch (SocketException e)
            {
                logFailure(e.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A name in the same directory (so the rename stays on one file system) that fits a socket address;
    /// when even the shortest does not fit, the final path itself (then the window between bind and listen stays).</summary>
    private static (string Path, UnixDomainSocketEndPoint EndPoint) StagingPath(string fullPath)
    {
        var staging = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(fullPath)!, $".{Random.Shared.Next():x8}.binding");
        try
        {
            return (staging, new UnixDomainSocketEndPoint(staging));
        }
        catch (ArgumentOutOfRangeException)
        {
            return (fullPath, new UnixDomainSocketEndPoint(fullPath));
        }
    }

    private static void TryDelete(string staging, string fullPath)
    {
        if (staging == fullPath)
        {
            return; // a failure at the final path leaves it as RemoveStale found it: absent
        }

        try
        {
            File.Delete(staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing more to do: a leftover hidden file beside the socket is harmless.
        }
    }

    private static void RemoveStale(string path, UnixDomainSocketEndPoint endPoint)
    {
        if (Directory.Exists(path))
        {
            throw new IOException("it is a directory");
        }

        if (!File.Exists(path))
        {
            return;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(endPoint);
                throw new IOException("another process accepts connections on it");
            }
            catch (SocketException)
            {
                // Refused: a socket left behind by a process that is gone (or not a socket at all).
            }
        }

        File.Delete(path);
    }
}
