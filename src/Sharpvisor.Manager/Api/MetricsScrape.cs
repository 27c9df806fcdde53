using Sharpvisor.Api;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// What one scrape of /metrics reads, all at the time of the scrape: the host, the inventory, and what each running
/// VMM says over its control socket. Nothing is kept between scrapes, so a deleted VM's series are gone from the next.
/// </summary>
internal sealed record MetricsScrape(HostSample Host, IReadOnlyList<VmSample> Vms)
{
    public static async Task<MetricsScrape> ReadAsync(VmOperations vms, ManagerOptions options, CancellationToken cancellationToken)
    {
        var entries = await vms.Store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        // In parallel: a VMM that hangs costs the scrape its 3 s timeout once, not once per VM after it.
        var live = await Task.WhenAll(entries.Select(e => e.State.State is VmState.Running or VmState.Paused
            ? VmLiveMetrics.ReadAsync(vms.Supervisor, e.Definition.Id, cancellationToken)
            : Task.FromResult<VmLiveMetrics?>(null))).ConfigureAwait(false);
        var host = new HostSample(
            HostApi.Version,
            Environment.ProcessorCount,
            HostFacts.MemInfoMiB("MemTotal") << 20,
            HostFacts.MemInfoMiB("MemAvailable") << 20,
            options.ProbeKvm(),
            HostFacts.StorageRoot(options.DataDirectory));
        return new MetricsScrape(host, [.. entries.Select((e, i) => new VmSample(e, live[i]))]);
    }
}

/// <summary>
/// The host at one scrape; <c>MemoryBytes</c> and <c>MemoryAvailableBytes</c> are MemTotal and MemAvailable, in
/// whole MiB as /api/v1/host has them.
/// </summary>
internal sealed record HostSample(string Version, int Cpus, long MemoryBytes, long MemoryAvailableBytes, KvmReadiness Kvm, StorageRootResource Storage);

/// <summary>One VM at a scrape; <c>Live</c> is what its VMM answered, null when it does not run or did not answer.</summary>
internal sealed record VmSample(VmEntry Entry, VmLiveMetrics? Live);
