using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/vms/{vm}/metrics (JSON, from the VMM's control socket) and /metrics (Prometheus text 0.0.4).</summary>
public static class MetricsApi
{
    public const string PrometheusContentType = PrometheusExposition.ContentType;

    public static IEndpointRouteBuilder MapMetricsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/vms/{vm}/metrics", GetVmMetrics).WithName("GetVmMetrics").WithTags("Metrics");
        endpoints.MapGet("/metrics", GetPrometheusMetrics).WithName("GetPrometheusMetrics").WithTags("Metrics")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        return endpoints;
    }

    public static async Task<Ok<VmMetricsResource>> GetVmMetrics([FromRoute] string vm, [FromServices] VmOperations vms, CancellationToken cancellationToken)
    {
        var id = (await vms.ResolveAsync(vm, cancellationToken).ConfigureAwait(false)).Id;
        var live = await VmLiveMetrics.ReadAsync(vms.Supervisor, id, cancellationToken).ConfigureAwait(false);
        var state = await vms.Store.GetStateAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
        return TypedResults.Ok(new VmMetricsResource
        {
            Id = id,
            State = state.State.ToName(),
            UptimeSeconds = live is null ? null : live.Status.UptimeMs / 1000.0,
            RssBytes = live?.Metrics.RssBytes,
            VcpuExits = live?.Metrics.TotalExits,
            VcpuExitsPerCpu = live is null ? null : [.. live.Metrics.Vcpus.OrderBy(v => v.Id).Select(v => v.TotalExits)],
        });
    }

    public static async Task<Utf8ContentHttpResult> GetPrometheusMetrics([FromServices] VmOperations vms, [FromServices] ManagerOptions options, CancellationToken cancellationToken)
    {
        var scrape = await MetricsScrape.ReadAsync(vms, options, cancellationToken).ConfigureAwait(false);
        using var text = new MemoryStream();
        await PrometheusExposition.WriteAsync(scrape, text, cancellationToken).ConfigureAwait(false);
        return TypedResults.Text(text.GetBuffer().AsSpan(0, (int)text.Length), PrometheusContentType);
    }
}
