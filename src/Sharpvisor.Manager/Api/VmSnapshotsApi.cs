using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/vms/{vm}/snapshots: take one, list them, start the VM from one, delete one.</summary>
public static class VmSnapshotsApi
{
    public static IEndpointRouteBuilder MapVmSnapshotsApi(this IEndpointRouteBuilder endpoints)
    {
        var snapshots = endpoints.MapGroup("/api/v1/vms/{vm}/snapshots").WithTags("Snapshots");
        snapshots.MapPost("/", TakeSnapshot).WithName("TakeSnapshot");
        snapshots.MapGet("/", ListSnapshots).WithName("ListSnapshots");
        snapshots.MapPost("/{name}/restore", RestoreSnapshot).WithName("RestoreSnapshot");
        snapshots.MapDelete("/{name}", DeleteSnapshot).WithName("DeleteSnapshot");
        return endpoints;
    }

    /// <summary>Pauses the VM, writes it whole, and lets it go on (or stops it with <c>"stop": true</c>); 201 with the snapshot.</summary>
    public static async Task<Created<SnapshotResource>> TakeSnapshot([FromRoute] string vm, [FromBody] SnapshotSpec spec, [FromServices] VmOperations vms)
    {
        var snapshot = await vms.SnapshotAsync(vm, spec, TimeSpan.FromSeconds(VmActionsApi.DefaultStopTimeoutSeconds)).ConfigureAwait(false);
        return TypedResults.Created($"/api/v1/vms/{vm}/snapshots/{snapshot.Name}", snapshot);
    }

    public static async Task<Ok<IReadOnlyList<SnapshotResource>>> ListSnapshots([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.ListSnapshotsAsync(vm).ConfigureAwait(false));

    /// <summary>Starts the stopped VM from the snapshot: it goes on from where it was saved (the same vCPUs and memory).</summary>
    public static async Task<Ok<VmResource>> RestoreSnapshot([FromRoute] string vm, [FromRoute] string name, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.RestoreAsync(vm, name).ConfigureAwait(false));

    public static async Task<NoContent> DeleteSnapshot([FromRoute] string vm, [FromRoute] string name, [FromServices] VmOperations vms)
    {
        await vms.DeleteSnapshotAsync(vm, name).ConfigureAwait(false);
        return TypedResults.NoContent();
    }
}
