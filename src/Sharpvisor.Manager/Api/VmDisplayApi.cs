using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// A running VM's screens: <c>GET /api/v1/vms/{vm}/display</c> says each head's size and its loopback VNC port (when
/// the definition asks for one); <c>GET /api/v1/vms/{vm}/screenshot?head=N</c> answers the head's picture as a PNG;
/// <c>GET /api/v1/vms/{vm}/display/{head}/vnc</c> is a WebSocket to the head's VNC server (for noVNC).
/// </summary>
public static class VmDisplayApi
{
    public static IEndpointRouteBuilder MapVmDisplayApi(this IEndpointRouteBuilder endpoints)
    {
        var vms = endpoints.MapGroup("/api/v1/vms/{vm}").WithTags("Display");
        vms.MapGet("/display", GetDisplay).WithName("GetVmDisplay");
        vms.MapGet("/screenshot", GetScreenshot).WithName("GetVmScreenshot");
        vms.MapGet("/display/{head:int}/vnc", ConnectVnc).WithName("ConnectVmDisplay");
        return endpoints;
    }

    /// <summary>
    /// A WebSocket carrying RFB to and from head <paramref name="head"/>'s VNC server, as noVNC speaks it (binary
    /// messages; the "binary" subprotocol is echoed when asked for). The bytes pass unchanged: the VNC server judges
    /// them. Closes (1000) when the VM stops.
    /// </summary>
    public static async Task ConnectVnc(
        HttpContext context, [FromRoute] string vm, [FromRoute] int head, [FromServices] VmOperations vms, [FromServices] IHostApplicationLifetime lifetime)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            throw new ApiValidationException("upgrade", "this endpoint is a WebSocket: send a WebSocket upgrade request");
        }

        using var display = await vms.ConnectDisplayAsync(vm, head, context.RequestAborted).ConfigureAwait(false);
        var protocol = context.WebSockets.WebSocketRequestedProtocols.Contains("binary") ? "binary" : null;
        using var webSocket = await context.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var output = ConsoleApi.PumpOutputAsync(display, webSocket, stop.Token);
        var input = ConsoleApi.PumpInputAsync(webSocket, display, stop.Token);
        await Task.WhenAny(output, input).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(output, input).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.WebSockets.WebSocketException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // One side ended; the other was cut short on purpose.
        }
    }

    /// <summary>409 when the VM has no display or does not run.</summary>
    public static async Task<Ok<DisplayResource>> GetDisplay([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.DisplayAsync(vm).ConfigureAwait(false));

    /// <summary>The head's picture now (default head 0) as image/png; 400 for a head the VM does not have.</summary>
    public static async Task<FileContentHttpResult> GetScreenshot([FromRoute] string vm, [FromQuery] int? head, [FromServices] VmOperations vms) =>
        TypedResults.File(await vms.ScreenshotAsync(vm, head ?? 0).ConfigureAwait(false), "image/png");
}
