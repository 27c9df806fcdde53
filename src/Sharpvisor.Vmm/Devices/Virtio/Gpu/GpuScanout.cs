using Sharpvisor.Display;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// One display head: the framebuffer clients see, the size the head prefers (GET_DISPLAY_INFO), and what the guest
/// shows on it (a rectangle of one resource, or nothing).
/// </summary>
internal sealed class GpuScanout(Framebuffer framebuffer, int preferredWidth, int preferredHeight)
{
    public Framebuffer Framebuffer { get; } = framebuffer;

    public int PreferredWidth { get; set; } = preferredWidth;

    public int PreferredHeight { get; set; } = preferredHeight;

    /// <summary>The resource shown; 0 when the guest disabled the head (or never set it).</summary>
    public uint ResourceId { get; set; }

    /// <summary>The part of the resource shown, its top-left at the framebuffer's origin.</summary>
    public GpuRect Source { get; set; }
}
