using Sharpvisor.Control;
using Sharpvisor.Display;

namespace Sharpvisor.Vmm.Control;

/// <summary>The display commands: they act on the process's screens, which outlive each machine, not on the machine.</summary>
public sealed partial class MachineControl
{
    /// <summary>How long a ticket from <c>display-ticket</c> lets one client in.</summary>
    public static readonly TimeSpan TicketLifetime = TimeSpan.FromSeconds(60);

    /// <summary>The VM's screens, when it has a display (set once, before the control socket serves).</summary>
    public DisplayServers? DisplayServers { get; set; }

    private DisplayServers Screens => DisplayServers ?? throw new ControlException("this VM has no display (run it with --display)");

    public DisplayResult Display()
    {
        var screens = Screens;
        var heads = screens.Heads.Select((framebuffer, head) =>
        {
            var (width, height) = framebuffer.Size;
            return new DisplayHeadInfo(
                head, width, height,
                head < screens.SocketPaths.Count ? screens.SocketPaths[head] : null,
                head < screens.TcpEndPoints.Count ? screens.TcpEndPoints[head].ToString() : null);
        });
        return new DisplayResult([.. heads], screens.HasPassword);
    }

    public DisplayTicketResult IssueDisplayTicket() =>
        new(Screens.Authentication.IssueTicket(TicketLifetime), (long)TicketLifetime.TotalMilliseconds);

    public ScreenshotResult Screenshot(int head, string path)
    {
        var screens = Screens;
        if (head >= screens.Heads.Count)
        {
            throw new ControlException($"head {head} does not exist: this VM has {screens.Heads.Count}");
        }

        // Written beside the target and renamed, so a reader never sees half a PNG.
        var full = Path.GetFullPath(path);
        var partial = full + ".partial";
        (int Width, int Height) size;
        using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            size = PngEncoder.Write(screens.Heads[head], file);
        }

        File.Move(partial, full, overwrite: true);
        return new ScreenshotResult(full, size.Width, size.Height);
    }
}
