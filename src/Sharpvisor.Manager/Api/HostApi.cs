using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Manager.Api.Contracts;
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

    public static async Task<Ok<HostResource>> GetHost([FromServices] VmOperations vms, CancellationToken cancellationToken)
    {
        var entries = await vms.Store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var active = entries.Where(e => VmMapping.IsActive(e.State.State)).ToList();
        return TypedResults.Ok(new HostResource
        {
            Hostname = Environment.MachineName,
            Version = Version,
            VmCount = entries.Count,
            VmsByState = Enum.GetValues<VmState>().ToDictionary(s => s.ToName(), s => entries.Count(e => e.State.State == s), StringComparer.Ordinal),
            MemoryCommittedMiB = active.Sum(e => (long)e.Definition.MemoryMiB),
            VcpusCommitted = active.Sum(e => e.Definition.Vcpus),
            HostMemoryMiB = HostMemoryMiB(),
            HostCpus = Environment.ProcessorCount,
        });
    }

    /// <summary>The manager's version (the assembly's informational version, without the source revision).</summary>
    public static string Version { get; } =
        (typeof(HostApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    /// <summary>MemTotal of /proc/meminfo; 0 when it cannot be read.</summary>
    private static long HostMemoryMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                // "MemTotal:       16318412 kB"
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal)
                    && long.TryParse(line["MemTotal:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                {
                    return kib / 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }
}
