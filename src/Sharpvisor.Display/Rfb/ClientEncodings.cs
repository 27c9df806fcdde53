namespace Sharpvisor.Display.Rfb;

/// <summary>What a client's SetEncodings said, reduced to the choices this server makes.</summary>
internal sealed class ClientEncodings
{
    /// <summary>The most entries a SetEncodings may carry; real clients send a few dozen.</summary>
    public const int MaxCount = 1024;

    public static ClientEncodings None { get; } = new([]);

    public ClientEncodings(IReadOnlyList<int> encodings)
    {
        All = encodings;

        // The first the client lists that this server can send wins (RFC 6143 7.5.2: in preference order). Raw is
        // every client's fallback. Tight is sent in its basic form only (fill, and the copy filter through zlib
        // stream 0): no JPEG, so it is lossless whatever quality level the client asked for.
        PixelEncoding = RfbEncodings.Raw;
        foreach (var encoding in encodings)
        {
            if (encoding is RfbEncodings.Raw or RfbEncodings.Zrle or RfbEncodings.Tight)
            {
                PixelEncoding = encoding;
                break;
            }
        }

        CopyRect = encodings.Contains(RfbEncodings.CopyRect);
        DesktopSize = encodings.Contains(RfbEncodings.DesktopSize);
        ExtendedDesktopSize = encodings.Contains(RfbEncodings.ExtendedDesktopSize);
        Cursor = encodings.Contains(RfbEncodings.Cursor);
        QemuExtendedKeyEvent = encodings.Contains(RfbEncodings.QemuExtendedKeyEvent);
        foreach (var encoding in encodings)
        {
            if (encoding is >= RfbEncodings.CompressLevel0 and <= RfbEncodings.CompressLevel9)
            {
                CompressLevel = encoding - RfbEncodings.CompressLevel0;
                break; // the first, as for the pixel encoding
            }
        }
    }

    /// <summary>
    /// The zlib level (0-9) for ZRLE and Tight: the client's compression-level pseudo-encoding, else zlib's own default
    /// (6), which compresses about as well as level 9 at a fraction of its cost.
    /// </summary>
    public int CompressLevel { get; } = 6;

    /// <summary>The whole list, in the client's order.</summary>
    public IReadOnlyList<int> All { get; }

    public int PixelEncoding { get; }

    public bool CopyRect { get; }

    public bool DesktopSize { get; }

    public bool ExtendedDesktopSize { get; }

    /// <summary>Whether the client can follow a change of the framebuffer's size (either pseudo-encoding).</summary>
    public bool Resize => DesktopSize || ExtendedDesktopSize;

    public bool Cursor { get; }

    public bool QemuExtendedKeyEvent { get; }
}
