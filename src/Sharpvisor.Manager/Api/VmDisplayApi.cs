using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// A running VM's screens: <c>GET /api/v1/vms/{vm}/display</c> says each head's size and its loopback VNC port (when
/// the definition asks for one); <c>GET /api/v1/vms/{vm}/screenshot?head=N</c> answers the head's picture as a PNG.
/// </summary>
public static class VmDisplayApi
{
    public static IEndpointRouteBuilder MapVmDisplayApi(this IEndpointRouteBuilder endpoints)
    {
        var vms = endpoints.MapGroup("/api/v1/vms/{vm}").WithTags("Display");
        vms.MapGet("/display", GetDisplay).WithName("GetVmDisplay");
        vms.MapGet("/screenshot", GetScreenshot).WithName("GetVmScreenshot");
        return endpoints;
    }

    /// <summary>409 when the VM has no display or does not run.</summary>
    public static async Task<Ok<DisplayResource>> GetDisplay([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.DisplayAsync(vm).ConfigureAwait(false));

    /// <summary>The head's picture now (default head 0) as image/png; 400 for a head the VM does not have.</summary>
    public static async Task<FileContentHttpResult> GetScreenshot([FromRoute] string vm, [FromQuery] int? head, [FromServices] VmOperations vms) =>
        TypedResults.File(await vms.ScreenshotAsync(vm, head ?? 0).ConfigureAwait(false), "image/png");
}
