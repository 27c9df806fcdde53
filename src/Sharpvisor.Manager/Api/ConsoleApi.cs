using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// /api/v1/vms/{vm}/console: a WebSocket over the VMM's console socket (<c>RUNDIR/ID.console</c>, where the VMM
/// itself replays the last 64 KiB of output to each new connection). Bytes pass through unchanged both ways; the
/// WebSocket closes (1000) when the VMM closes its end, that is when the VM stops.
/// </summary>
public static class ConsoleApi
{
    private const int BufferSize = 16 * 1024;

    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    public static IEndpointRouteBuilder MapConsoleApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/vms/{vm}/console", ConnectConsole).WithName("ConnectConsole").WithTags("Console");
        return endpoints;
    }

    public static async Task ConnectConsole(
        HttpContext context, [FromRoute] string vm, [FromServices] VmOperations vms, [FromServices] IHostApplicationLifetime lifetime)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            throw new ApiValidationException("upgrade", "this endpoint is a WebSocket: send a WebSocket upgrade request");
        }

        var resource = await vms.GetAsync(vm, context.RequestAborted).ConfigureAwait(false);
        if (resource.State is not ("running" or "paused"))
        {
            throw new VmStateConflictException(resource.Id, VmStateNames.Parse(resource.State), "attach a console to");
        }

        Socket console;
        try
        {
            console = await vms.Supervisor.ConnectConsoleAsync(resource.Id, context.RequestAborted).ConfigureAwait(false)
                ?? throw new ConsoleUnavailableException(resource.Id, "it has no VMM process now");
        }
        catch (Exception e) when (e is SocketException or ControlException)
        {
            throw new ConsoleUnavailableException(resource.Id, e.Message);
        }

        using (console)
        {
            using var webSocket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            var output = PumpOutputAsync(console, webSocket, stop.Token);
            var input = PumpInputAsync(webSocket, console, stop.Token);
            if (await Task.WhenAny(output, input).ConfigureAwait(false) == output)
            {
                // The VM stopped and our close frame is out: let the client answer it, so it sees a clean 1000
                // rather than a connection torn down under its close handshake.
                await Task.WhenAny(input, Task.Delay(CloseGrace, CancellationToken.None)).ConfigureAwait(false);
            }

            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(output, input).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or SocketException or ObjectDisposedException)
            {
                // One side ended; the other was cut short on purpose.
            }
        }
    }

    /// <summary>VMM to browser, until the VMM closes the socket (the VM stopped): then a normal close.</summary>
    internal static async Task PumpOutputAsync(Socket console, WebSocket webSocket, CancellationToken cancellationToken)
    {
        var buffer = new byte[BufferSize];
        while (true)
        {
            int read;
            try
            {
                read = await console.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                read = 0;
            }

            if (read == 0)
            {
                if (webSocket.State == WebSocketState.Open)
                {
                    using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "the VM stopped", closing.Token).ConfigureAwait(false);
                }

                return;
            }

            await webSocket.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Browser to VMM (keystrokes, text or binary alike), until the client closes.</summary>
    internal static async Task PumpInputAsync(WebSocket webSocket, Socket console, CancellationToken cancellationToken)
    {
        var buffer = new byte[BufferSize];
        while (true)
        {
            var received = await webSocket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                if (webSocket.State == WebSocketState.CloseReceived)
                {
                    await webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            var sent = 0;
            while (sent < received.Count)
            {
                sent += await console.SendAsync(buffer.AsMemory(sent, received.Count - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>The VM runs but its console socket does not answer (a VMM from before console sockets, say): 409.</summary>
public sealed class ConsoleUnavailableException(Guid id, string reason)
    : VmConflictException($"the console of VM {id} is not available: {reason}");
