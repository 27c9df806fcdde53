using System.Net.Sockets;
using System.Text.Json;
using Sharpvisor.Control;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>What a running VMM says about itself (control <c>status</c> and <c>metrics</c>); null when it does not answer.</summary>
internal sealed record VmLiveMetrics(StatusResult Status, MetricsResult Metrics)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static async Task<VmLiveMetrics?> ReadAsync(VmSupervisor supervisor, Guid id, CancellationToken cancellationToken)
    {
        var known = supervisor.List().FirstOrDefault(s => s.VmId == id);
        if (known?.State is not (VmState.Running or VmState.Paused))
        {
            return null;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            using var client = await supervisor.ConnectControlAsync(id, timeout.Token).ConfigureAwait(false);
            if (client is null)
            {
                return null;
            }

            var status = await client.StatusAsync(timeout.Token).ConfigureAwait(false);
            var metrics = await client.MetricsAsync(timeout.Token).ConfigureAwait(false);
            return new VmLiveMetrics(status, metrics);
        }
        catch (Exception e) when (e is SocketException or IOException or JsonException or ControlException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // It stopped between the check and the request, or it hangs: no numbers, not an error.
            return null;
        }
    }
}
