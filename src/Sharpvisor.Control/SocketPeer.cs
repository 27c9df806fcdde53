using System.Buffers.Binary;
using System.Net.Sockets;

namespace Sharpvisor.Control;

/// <summary>
/// Who is at the other end of a connected unix socket, as the kernel recorded it at connect time (SO_PEERCRED): a
/// VMM's sockets lie in a directory the VMM owns, so the path alone does not say whose socket it is.
/// </summary>
public static class SocketPeer
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>The peer's pid (struct ucred's first field), or null when the kernel does not say (not a unix socket).</summary>
    public static int? ProcessId(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
            var pid = length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(credentials) : 0;
            return pid > 0 ? pid : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Throws <see cref="ControlException"/> unless the peer of <paramref name="socket"/> is process <paramref name="pid"/>.</summary>
    public static void Expect(Socket socket, int pid, string what)
    {
        var peer = ProcessId(socket);
        if (peer != pid)
        {
            throw new ControlException($"{what} is served by {(peer is { } p ? $"process {p}" : "an unknown process")}, not by the VMM (process {pid})");
        }
    }
}
