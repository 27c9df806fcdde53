using Sharpvisor.Display.Rfb.Encoders;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// What one FramebufferUpdate will carry, decided under the session's lock and sent after it is released: the
/// pixels to copy from the framebuffer then, and the pseudo-rectangles. Reused from update to update.
/// </summary>
internal sealed class UpdatePlan
{
    public List<Rect> Rects { get; } = [];

    /// <summary>Size announcements (DesktopSize or ExtendedDesktopSize), sent last.</summary>
    public List<SizeAnnouncement> Sizes { get; } = [];

    public CopyMove? Copy { get; set; }

    public bool SendCursor { get; set; }

    public DisplayCursor? Cursor { get; set; }

    public bool KeyEventAck { get; set; }

    public RfbPixelConverter Converter { get; set; } = RfbPixelConverter.Default;

    public IRectEncoder Encoder { get; set; } = RawEncoder.Instance;

    public void Clear()
    {
        Rects.Clear();
        Sizes.Clear();
        Copy = null;
        SendCursor = false;
        Cursor = null;
        KeyEventAck = false;
    }
}
