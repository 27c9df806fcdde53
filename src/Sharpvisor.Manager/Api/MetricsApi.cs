using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Manager.Api.Contracts;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/vms/{vm}/metrics (JSON, from the VMM's control socket) and /metrics (Prometheus text 0.0.4).</summary>
public static class MetricsApi
{
    public const string PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

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

    public static async Task<ContentHttpResult> GetPrometheusMetrics([FromServices] VmOperations vms, CancellationToken cancellationToken)
    {
        var entries = await vms.Store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var text = new StringBuilder();
        void Line(string line) => text.Append(line).Append('\n');

        Line("# HELP sharpvisor_vms VMs defined, by state.");
        Line("# TYPE sharpvisor_vms gauge");
        foreach (var state in Enum.GetValues<VmState>())
        {
            Line(Invariant($"sharpvisor_vms{{state=\"{state.ToName()}\"}} {entries.Count(e => e.State.State == state)}"));
        }

        var active = entries.Where(e => VmMapping.IsActive(e.State.State)).ToList();
        Line("# HELP sharpvisor_memory_committed_bytes Guest RAM of the VMs that run.");
        Line("# TYPE sharpvisor_memory_committed_bytes gauge");
        Line(Invariant($"sharpvisor_memory_committed_bytes {active.Sum(e => (long)e.Definition.MemoryMiB << 20)}"));
        Line("# HELP sharpvisor_vcpus_committed vCPUs of the VMs that run.");
        Line("# TYPE sharpvisor_vcpus_committed gauge");
        Line(Invariant($"sharpvisor_vcpus_committed {active.Sum(e => e.Definition.Vcpus)}"));

        var up = new StringBuilder();
        var uptime = new StringBuilder();
        var exits = new StringBuilder();
        var rss = new StringBuilder();
        foreach (var entry in entries)
        {
            var labels = $"vm=\"{Escape(entry.Definition.Name)}\",id=\"{entry.Definition.Id:D}\"";
            var running = entry.State.State is VmState.Running or VmState.Paused;
            up.Append(Invariant($"sharpvisor_vm_up{{{labels}}} {(running ? 1 : 0)}\n"));
            if (!running || await VmLiveMetrics.ReadAsync(vms.Supervisor, entry.Definition.Id, cancellationToken).ConfigureAwait(false) is not { } live)
            {
                continue;
            }

            uptime.Append(Invariant($"sharpvisor_vm_uptime_seconds{{{labels}}} {live.Status.UptimeMs / 1000.0}\n"));
            foreach (var vcpu in live.Metrics.Vcpus.OrderBy(v => v.Id))
            {
                exits.Append(Invariant($"sharpvisor_vm_vcpu_exits_total{{{labels},vcpu=\"{vcpu.Id}\"}} {vcpu.TotalExits}\n"));
            }

            rss.Append(Invariant($"sharpvisor_vm_rss_bytes{{{labels}}} {live.Metrics.RssBytes}\n"));
        }

        Section(text, "sharpvisor_vm_up", "gauge", "1 when the VM runs or is paused.", up);
        Section(text, "sharpvisor_vm_uptime_seconds", "gauge", "Seconds since the VM's vCPUs started.", uptime);
        Section(text, "sharpvisor_vm_vcpu_exits_total", "counter", "Exits of a vCPU to the VMM.", exits);
        Section(text, "sharpvisor_vm_rss_bytes", "gauge", "Resident memory of the VM's VMM process.", rss);
        return TypedResults.Text(text.ToString(), PrometheusContentType);
    }

    private static void Section(StringBuilder text, string name, string type, string help, StringBuilder samples)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        text.Append(samples);
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    // Prometheus label values escape backslash, double quote and newline.
    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
