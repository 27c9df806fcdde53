using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Live migration between managers: <c>POST /api/v1/vms/{vm}/migrate</c> at the source moves the running VM to another
/// manager, which takes the stream on <c>GET /api/v1/vms/{vm}/incoming</c> (a WebSocket of binary messages);
/// <c>POST /api/v1/vms/{vm}/migrate/cancel</c> gives it up.
/// </summary>
public static class VmMigrationApi
{
    public static IEndpointRouteBuilder MapVmMigrationApi(this IEndpointRouteBuilder endpoints)
    {
        var vms = endpoints.MapGroup("/api/v1/vms/{vm}").WithTags("Migration");
        vms.MapPost("/migrate", MigrateVm).WithName("MigrateVm");
        vms.MapPost("/migrate/cancel", CancelVmMigration).WithName("CancelVmMigration");
        vms.MapGet("/incoming", ReceiveVm).WithName("ReceiveVm");
        return endpoints;
    }

    /// <summary>
    /// Moves the running VM to the manager <c>to</c> names (same storage paths there), pre-copy as QEMU does; 200 once it
    /// runs there, and it is no longer this manager's. 502 when the other manager refuses or the migration fails (the
    /// VM then runs on here).
    /// </summary>
    public static async Task<Ok<MigrationResource>> MigrateVm([FromRoute] string vm, [FromBody] MigrateSpec spec, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.MigrateAsync(vm, spec).ConfigureAwait(false));

    /// <summary>
    /// Cancels the VM's migration under way, as QEMU's <c>migrate_cancel</c>: its migrate answers 409 and the VM runs on
    /// here. 409 when it is not migrating or is past the hand-over.
    /// </summary>
    public static async Task<Ok<VmResource>> CancelVmMigration([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.CancelMigrationAsync(vm).ConfigureAwait(false));

    /// <summary>The destination's end: starts the (stopped) VM as a migration destination and carries the stream to its VMM.</summary>
    public static async Task ReceiveVm(HttpContext context, [FromRoute] string vm, [FromServices] VmOperations vms)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            throw new ApiValidationException("upgrade", "this endpoint is a WebSocket: send a WebSocket upgrade request");
        }

        var id = (await vms.ResolveAsync(vm, context.RequestAborted).ConfigureAwait(false)).Id;
        using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        try
        {
            await vms.ReceiveAsync(id, socket).ConfigureAwait(false);
        }
        catch (Exception e) when (e is VmStartException or VmStateConflictException or Store.VmValidationException)
        {
            // The source learns it from the stream ending without READY; the VM's events and state say why here.
        }
    }
}
