using System.Net.Sockets;
using System.Text.Json;

namespace Sharpvisor.Control;

/// <summary>
/// One connection to a VMM's control socket: sends a request line, reads its response line. Calls on one client
/// are sequential (the protocol answers in order); use one client per concurrent caller.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly Socket _socket;
    // Responses have no protocol limit (metrics grow with vCPUs and devices); this one only guards the client.
    private const int MaxResponseBytes = 16 << 20;

    private byte[] _buffer = new byte[ControlCodec.MaxLineBytes + 1];
    private int _count;
    private int _nextId;

    private ControlClient(Socket socket) => _socket = socket;

    /// <summary>The pid of the process that serves this connection (<see cref="SocketPeer"/>), or null.</summary>
    public int? PeerProcessId => SocketPeer.ProcessId(_socket);

    /// <summary>Throws <see cref="ControlException"/> unless process <paramref name="pid"/> serves this connection.</summary>
    public void ExpectPeer(int pid) => SocketPeer.Expect(_socket, pid, "the control socket");

    public static async Task<ControlClient> ConnectAsync(string path, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new ControlClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="command"/> with the next id and returns the matching response, or an error with no id
    /// (the server turned the connection away or could not read the request).
    /// </summary>
    public Task<ControlResponse> SendAsync(string command, CancellationToken cancellationToken = default) =>
        SendAsync(command, new ControlArguments(), cancellationToken);

    /// <summary>As above, with arguments (<c>snapshot</c>, <c>migrate</c>).</summary>
    public async Task<ControlResponse> SendAsync(string command, ControlArguments arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var id = Interlocked.Increment(ref _nextId);
        var request = new ControlRequest(id, command)
        {
            Path = arguments.Path, DowntimeMs = arguments.DowntimeMs, MaxBandwidth = arguments.MaxBandwidth, AutoConverge = arguments.AutoConverge,
            Head = arguments.Head,
        };
        await SendLineAsync(ControlCodec.EncodeRequest(request), cancellationToken).ConfigureAwait(false);
        var response = ControlCodec.DecodeResponse(await ReadLineAsync(cancellationToken).ConfigureAwait(false));
        return response.Id == id || (response.Id is null && !response.Ok) ? response : throw new JsonException($"response id {response.Id} does not match request id {id}");
    }

    public async Task<StatusResult> StatusAsync(CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Status, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.StatusResult);

    public async Task<MetricsResult> MetricsAsync(CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Metrics, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.MetricsResult);

    /// <summary>Saves the VM to <paramref name="path"/> (a path as the VMM sees it) and returns where and how much RAM.</summary>
    public async Task<SnapshotResult> SnapshotAsync(string path, CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Snapshot, new ControlArguments { Path = path }, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.SnapshotResult);

    /// <summary>
    /// Migrates the VM out through a unix socket the VMM listens on at <paramref name="arguments"/>' path until the
    /// stream's consumer connects (see docs/control-protocol.md); returns once the migration ended.
    /// </summary>
    public async Task<MigrateResult> MigrateAsync(ControlArguments arguments, CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Migrate, arguments, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.MigrateResult);

    /// <summary>The display's heads and their VNC servers.</summary>
    public async Task<DisplayResult> DisplayAsync(CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Display, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.DisplayResult);

    /// <summary>A one-time VNC password for the display.</summary>
    public async Task<DisplayTicketResult> DisplayTicketAsync(CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.DisplayTicket, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.DisplayTicketResult);

    /// <summary>Writes head <paramref name="head"/>'s picture as a PNG at <paramref name="path"/> (as the VMM sees it).</summary>
    public async Task<ScreenshotResult> ScreenshotAsync(string path, int head = 0, CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(ControlCommands.Screenshot, new ControlArguments { Path = path, Head = head }, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.ScreenshotResult);

    /// <summary>Sends pause, resume or stop and returns the state the response names.</summary>
    public async Task<string> ChangeStateAsync(string command, CancellationToken cancellationToken = default) =>
        ControlCodec.ResultAs(await SendAsync(command, cancellationToken).ConfigureAwait(false), ControlJsonContext.Default.StateResult).State;

    /// <summary>Sends raw bytes (tests of hostile input).</summary>
    public async Task SendLineAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await _socket.SendAsync(bytes[sent..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The next line, without its newline; throws <see cref="EndOfStreamException"/> if the server closes first.</summary>
    public async Task<byte[]> ReadLineAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var newline = _buffer.AsSpan(0, _count).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = _buffer.AsSpan(0, newline).ToArray();
                _buffer.AsSpan(newline + 1, _count - newline - 1).CopyTo(_buffer);
                _count -= newline + 1;
                return line;
            }

            if (_count == _buffer.Length)
            {
                if (_buffer.Length >= MaxResponseBytes)
                {
                    throw new InvalidDataException($"response line longer than {MaxResponseBytes} bytes");
                }

                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = await _socket.ReceiveAsync(_buffer.AsMemory(_count), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException("the control socket was closed");
            }

            _count += read;
        }
    }

    public void Dispose() => _socket.Dispose();
}
