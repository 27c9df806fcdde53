using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/vms: list, read, create, update, delete VM definitions, and a VM's event history.</summary>
public static class VmsApi
{
    public const int DefaultEventLimit = 100;
    public const int MaxEventLimit = 1000;

    public static IEndpointRouteBuilder MapVmsApi(this IEndpointRouteBuilder endpoints)
    {
        var vms = endpoints.MapGroup("/api/v1/vms").WithTags("VMs");
        vms.MapGet("/", ListVms).WithName("ListVms");
        vms.MapGet("/{vm}", GetVm).WithName("GetVm");
        vms.MapPost("/", CreateVm).WithName("CreateVm");
        vms.MapPut("/{vm}", UpdateVm).WithName("UpdateVm");
        vms.MapDelete("/{vm}", DeleteVm).WithName("DeleteVm");
        vms.MapGet("/{vm}/events", ListVmEvents).WithName("ListVmEvents");
        vms.MapPost("/{vm}/clone", CloneVm).WithName("CloneVm");
        return endpoints;
    }

    public static async Task<Ok<IReadOnlyList<VmResource>>> ListVms([FromQuery] string? state, [FromServices] VmOperations vms, CancellationToken cancellationToken)
    {
        VmState? filter = null;
        if (state is not null)
        {
            filter = VmStateNames.TryParse(state, out var parsed)
                ? parsed
                : throw new ApiValidationException("state", "must be one of " + string.Join(", ", Enum.GetValues<VmState>().Select(s => s.ToName())));
        }

        return TypedResults.Ok(await vms.ListAsync(filter, cancellationToken).ConfigureAwait(false));
    }

    public static async Task<Ok<VmResource>> GetVm([FromRoute] string vm, [FromServices] VmOperations vms, CancellationToken cancellationToken) =>
        TypedResults.Ok(await vms.GetAsync(vm, cancellationToken).ConfigureAwait(false));

    public static async Task<Created<VmResource>> CreateVm([FromBody] VmSpec spec, [FromServices] VmOperations vms)
    {
        var created = await vms.CreateAsync(RequireBody(spec)).ConfigureAwait(false);
        return TypedResults.Created($"/api/v1/vms/{created.Id:D}", created);
    }

    /// <summary>A thin clone of a template: its definition under a new name, each writable disk a qcow2 overlay over the template's.</summary>
    public static async Task<Created<VmResource>> CloneVm([FromRoute] string vm, [FromBody] CloneSpec spec, [FromServices] VmOperations vms)
    {
        var created = await vms.CloneAsync(vm, spec ?? throw new ApiValidationException("body", "must be a JSON object")).ConfigureAwait(false);
        return TypedResults.Created($"/api/v1/vms/{created.Id:D}", created);
    }

    public static async Task<Ok<VmResource>> UpdateVm([FromRoute] string vm, [FromBody] VmSpec spec, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.UpdateAsync(vm, RequireBody(spec)).ConfigureAwait(false));

    public static async Task<NoContent> DeleteVm([FromRoute] string vm, [FromServices] VmOperations vms)
    {
        await vms.DeleteAsync(vm).ConfigureAwait(false);
        return TypedResults.NoContent();
    }

    public static async Task<Ok<IReadOnlyList<EventResource>>> ListVmEvents(
        [FromRoute] string vm, [FromQuery] long? after, [FromQuery] int? limit, [FromServices] VmOperations vms, CancellationToken cancellationToken)
    {
        var count = limit ?? DefaultEventLimit;
        if (count is < 1 or > MaxEventLimit)
        {
            throw new ApiValidationException("limit", $"must be between 1 and {MaxEventLimit}");
        }

        if (after is < 0)
        {
            throw new ApiValidationException("after", "must not be negative");
        }

        var id = (await vms.ResolveAsync(vm, cancellationToken).ConfigureAwait(false)).Id;
        var events = after is { } afterId
            ? await vms.Store.ListEventsAsync(afterId, count, id, cancellationToken).ConfigureAwait(false)
            : await vms.Store.ListLatestEventsAsync(count, id, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok<IReadOnlyList<EventResource>>([.. events.Select(VmMapping.ToResource)]);
    }

    // The JSON "null" binds as a null body.
    private static VmSpec RequireBody(VmSpec? spec) =>
        spec ?? throw new ApiValidationException("body", "must be a JSON object");
}
