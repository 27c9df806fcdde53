using System.Net.WebSockets;
using Sharpvisor.Api;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Live migration between two managers over shared storage (docs/migration.md): the source defines the VM at the
/// destination under the same name, opens the destination's incoming WebSocket (which starts a VMM there with
/// <c>--incoming</c>), and has its own VMM migrate through it. When the guest runs there the VM is the destination's:
/// the source forgets its definition (its disks stay where they are, now the destination's to use).
/// </summary>
public sealed partial class VmOperations
{
    public async Task<MigrationResource> MigrateAsync(string vm, MigrateSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var destination = spec.To is { } to && Uri.TryCreate(to, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url : throw new ApiValidationException("to", "the destination manager's URL, like https://host2:7780");
        if (spec.DowntimeMs is < 1 or > MigrationLimits.MaxDowntimeMs)
        {
            throw new ApiValidationException("downtimeMs", $"must be 1 to {MigrationLimits.MaxDowntimeMs}");
        }

        if (spec.MaxBandwidth is < 0 or (> 0 and < MigrationLimits.MinBandwidth))
        {
            throw new ApiValidationException("maxBandwidth", $"must be 0 (no limit) or at least {MigrationLimits.MinBandwidth} bytes/s");
        }

        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            await RequireSupervisedAsync(id, "migrate", VmState.Running).ConfigureAwait(false);
            var definition = await store.GetAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
            using var remote = new RemoteManager(destination, spec.Token, spec.Fingerprint);
            await remote.CreateAsync(DestinationSpec(definition, spec.Nics), CancellationToken.None).ConfigureAwait(false);
            MigrateResult result;
            try
            {
                using var socket = await remote.ConnectIncomingAsync(definition.Name, CancellationToken.None).ConfigureAwait(false);
                result = await supervisor.MigrateOutAsync(id, socket, new ControlArguments
                {
                    DowntimeMs = spec.DowntimeMs,
                    MaxBandwidth = spec.MaxBandwidth,
                    AutoConverge = spec.AutoConverge ? true : null,
                }).ConfigureAwait(false);
            }
            catch
            {
                // Refused there unless it stopped: a destination that runs the guest keeps it.
                await remote.TryDeleteAsync(definition.Name).ConfigureAwait(false);
                throw;
            }

            // The guest is the destination's now: its record goes, its files stay.
            await store.DeleteAsync(id).ConfigureAwait(false);
            return new MigrationResource
            {
                Vm = definition.Name,
                Destination = remote.BaseUrl.ToString(),
                Rounds = result.Rounds,
                BytesSent = result.BytesSent,
                TotalMs = result.TotalMs,
                DowntimeMs = result.DowntimeMs,
                ThrottlePercent = result.ThrottlePercent,
            };
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Cancels the VM's migration under way (its migrate then answers 409 and the VM runs on here); not serialized
    /// with the VM's other actions, since the migrate it cancels is one.
    /// </summary>
    public async Task<VmResource> CancelMigrationAsync(string vm)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        await supervisor.CancelMigrationAsync(id).ConfigureAwait(false);
        return await ResourceAsync(id).ConfigureAwait(false);
    }

    /// <summary>
    /// The definition the destination gets: this one, with the TAPs <paramref name="nics"/> names when given. Every NIC
    /// keeps the MAC the guest knows (the one a NIC without a MAC got from its TAP's name here, written out).
    /// </summary>
    private static VmSpec DestinationSpec(VmDefinition definition, IReadOnlyList<NicSpec>? nics)
    {
        if (nics is not null && nics.Count != definition.Nics.Count)
        {
            throw new ApiValidationException("nics", $"the VM has {definition.Nics.Count} NICs: give a TAP for each, in order");
        }

        return VmMapping.ToSpec(definition) with
        {
            Nics = [.. definition.Nics.Select((nic, i) => new NicSpec(
                nics?[i].Tap ?? nic.Tap,
                nic.Mac ?? NicAddresses.Format(NicAddresses.DefaultMac(nic.Tap))))],
        };
    }

    /// <summary>
    /// The destination's side: starts the stopped VM's VMM as a migration destination and carries <paramref name="peer"/>
    /// to it; returns once the guest runs here. The definition is checked and resolved as for a start.
    /// </summary>
    public async Task<VmResource> ReceiveAsync(Guid id, WebSocket peer)
    {
        return await SerializedAsync(id, async () =>
        {
            await RequireStoppedAsync(id, "receive a migration into").ConfigureAwait(false);
            var definition = CheckedAndResolved(await store.GetAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id)).Resolved;
            await supervisor.ReceiveAsync(definition, peer, CancellationToken.None).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }
}
