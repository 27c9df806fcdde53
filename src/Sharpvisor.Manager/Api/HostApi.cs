using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/host: the host and what the VMs on it take.</summary>
public static class HostApi
{
    public static IEndpointRouteBuilder MapHostApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/host", GetHost).WithName("GetHost").WithTags("Host");
        return endpoints;
    }

    public static async Task<Ok<HostResource>> GetHost([FromServices] VmOperations vms, [FromServices] ManagerOptions options, CancellationToken cancellationToken)
    {
        var entries = await vms.Store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var active = entries.Where(e => VmMapping.IsActive(e.State.State)).ToList();
        var kvm = options.ProbeKvm();
        return TypedResults.Ok(new HostResource
        {
            Hostname = Environment.MachineName,
            Version = Version,
            VmCount = entries.Count,
            VmsByState = Enum.GetValues<VmState>().ToDictionary(s => s.ToName(), s => entries.Count(e => e.State.State == s), StringComparer.Ordinal),
            MemoryCommittedMiB = active.Sum(e => (long)e.Definition.MemoryMiB),
            VcpusCommitted = active.Sum(e => e.Definition.Vcpus),
            HostMemoryMiB = HostFacts.MemInfoMiB("MemTotal"),
            HostMemoryAvailableMiB = HostFacts.MemInfoMiB("MemAvailable"),
            HostCpus = Environment.ProcessorCount,
            Kvm = new KvmResource(kvm.Device, kvm.Present, kvm.Usable, kvm.Backend, kvm.Reason),
            Storage = [HostFacts.StorageRoot(options.DataDirectory)],
        });
    }

    /// <summary>The manager's version (the assembly's informational version, without the source revision).</summary>
    public static string Version { get; } =
        (typeof(HostApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];
}
