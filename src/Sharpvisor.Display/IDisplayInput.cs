namespace Sharpvisor.Display;

/// <summary>
/// Where a display's clients send their keyboard and pointer (the VM's virtio-input keyboard and tablet). Called from
/// the clients' threads; every value is the client's and is hostile: the implementation clamps and drops, never throws.
/// </summary>
public interface IDisplayInput
{
    /// <summary>
    /// A key went down or up. <paramref name="keysym"/> is the X11 keysym the client sent; <paramref name="scancode"/>
    /// is the PC (set 1, 0xE0-prefixed as 0xE0xx) scancode when the client sent QEMU's extended key event, else 0.
    /// </summary>
    void Key(uint keysym, uint scancode, bool down);

    /// <summary>
    /// The pointer is at (<paramref name="x"/>, <paramref name="y"/>) on a screen of <paramref name="width"/> by
    /// <paramref name="height"/> pixels, with the RFB button mask (bit 0 left, 1 middle, 2 right, 3/4 wheel up/down).
    /// </summary>
    void Pointer(int x, int y, int width, int height, int buttons);
}
