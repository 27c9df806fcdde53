namespace Sharpvisor.Display.Rfb;

/// <summary>The encoding and pseudo-encoding numbers this server knows (RFC 6143 section 7.7 and 7.8, rfbproto).</summary>
internal static class RfbEncodings
{
    public const int Raw = 0;
    public const int CopyRect = 1;
    public const int Tight = 7;
    public const int Zrle = 16;
    public const int DesktopSize = -223;
    public const int Cursor = -239;
    public const int QemuExtendedKeyEvent = -258;
    public const int ExtendedDesktopSize = -308;

    /// <summary>CompressLevel0 .. CompressLevel9 (rfbproto "Compression Level Pseudo-encoding"): the zlib level wanted.</summary>
    public const int CompressLevel0 = -256;
    public const int CompressLevel9 = -247;
}
