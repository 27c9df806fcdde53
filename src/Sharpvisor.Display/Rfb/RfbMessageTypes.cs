namespace Sharpvisor.Display.Rfb;

/// <summary>Message type bytes, client to server and server to client (RFC 6143 section 7.5 and 7.6).</summary>
internal static class RfbMessageTypes
{
    public const byte SetPixelFormat = 0;
    public const byte SetEncodings = 2;
    public const byte FramebufferUpdateRequest = 3;
    public const byte KeyEvent = 4;
    public const byte PointerEvent = 5;
    public const byte ClientCutText = 6;
    public const byte SetDesktopSize = 251;
    public const byte Qemu = 255;

    public const byte QemuExtendedKeyEvent = 0;

    public const byte FramebufferUpdate = 0;
}
