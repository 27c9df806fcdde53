using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/host/history and /api/v1/vms/{vm}/history: the last hour of samples that <see cref="MetricsHistory"/> keeps, for charts.</summary>
public static class MetricsHistoryApi
{
    /// <summary>The longest <c>?seconds=</c>: the hour the history keeps at its default interval.</summary>
    public const int MaxSeconds = 3600;

    public static IEndpointRouteBuilder MapMetricsHistoryApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/host/history", GetHostHistory).WithName("GetHostHistory").WithTags("Metrics");
        endpoints.MapGet("/api/v1/vms/{vm}/history", GetVmHistory).WithName("GetVmHistory").WithTags("Metrics");
        return endpoints;
    }

    /// <summary>All samples kept, or those of the last <paramref name="seconds"/> (a sparkline needs a few minutes, not the hour).</summary>
    public static Ok<HostHistoryResource> GetHostHistory([FromQuery] int? seconds, [FromServices] MetricsHistory history) =>
        TypedResults.Ok(history.Host(Window(seconds)));

    public static async Task<Ok<VmHistoryResource>> GetVmHistory(
        [FromRoute] string vm, [FromQuery] int? seconds, [FromServices] VmOperations vms, [FromServices] MetricsHistory history, CancellationToken cancellationToken)
    {
        var window = Window(seconds);
        var id = (await vms.ResolveAsync(vm, cancellationToken).ConfigureAwait(false)).Id;
        return TypedResults.Ok(history.Vm(id, window));
    }

    private static TimeSpan? Window(int? seconds) => seconds switch
    {
        null => null,
        >= 1 and <= MaxSeconds => TimeSpan.FromSeconds(seconds.Value),
        _ => throw new ApiValidationException("seconds", $"must be between 1 and {MaxSeconds}"),
    };
}
