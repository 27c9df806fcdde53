using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>A running VM's screens: where they are and what they show. Neither waits behind another action on the VM.</summary>
public sealed partial class VmOperations
{
    public async Task<DisplayResource> DisplayAsync(string vm)
    {
        var (id, _) = await DisplayedAsync(vm, "show the display of").ConfigureAwait(false);
        var display = await supervisor.DisplayAsync(id).ConfigureAwait(false);
        return new DisplayResource([.. display.Heads.Select(h => new DisplayHeadResource(h.Head, h.Width, h.Height, h.Tcp))]);
    }

    /// <summary>Head <paramref name="head"/>'s picture now, as PNG bytes.</summary>
    public async Task<byte[]> ScreenshotAsync(string vm, int head)
    {
        var (id, display) = await DisplayedAsync(vm, "take a screenshot of").ConfigureAwait(false);
        if (head < 0 || head >= display.Heads)
        {
            throw new ApiValidationException("head", $"must be 0 to {display.Heads - 1}: the VM has {display.Heads} head{(display.Heads == 1 ? "" : "s")}");
        }

        return await supervisor.ScreenshotAsync(id, head).ConfigureAwait(false);
    }

    /// <summary>A connection to head <paramref name="head"/>'s VNC server (the VM's own socket, no authentication: the manager's token is the gate).</summary>
    public async Task<System.Net.Sockets.Socket> ConnectDisplayAsync(string vm, int head, CancellationToken cancellationToken)
    {
        var (id, display) = await DisplayedAsync(vm, "connect to the display of").ConfigureAwait(false);
        if (head < 0 || head >= display.Heads)
        {
            throw new ApiValidationException("head", $"must be 0 to {display.Heads - 1}: the VM has {display.Heads} head{(display.Heads == 1 ? "" : "s")}");
        }

        try
        {
            return await supervisor.ConnectDisplayAsync(id, head, cancellationToken).ConfigureAwait(false)
                ?? throw new ConsoleUnavailableException(id, "it has no VMM process now");
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or Sharpvisor.Control.ControlException)
        {
            throw new ConsoleUnavailableException(id, $"its display does not answer: {e.Message}");
        }
    }

    /// <summary>The VM's id and display; 409 when it has none or does not run.</summary>
    private async Task<(Guid Id, DisplayDefinition Display)> DisplayedAsync(string vm, string action)
    {
        var definition = await ResolveAsync(vm).ConfigureAwait(false);
        var display = definition.Display ?? throw new NoDisplayException(definition.Name);
        await RequireSupervisedAsync(definition.Id, action, VmState.Running, VmState.Paused).ConfigureAwait(false);
        return (definition.Id, display);
    }
}
