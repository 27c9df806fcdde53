namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>One pixel encoding a session can send a rectangle in.</summary>
internal interface IRectEncoder
{
    /// <summary>The RFB encoding number written in the rectangle's header.</summary>
    int Encoding { get; }

    /// <summary>
    /// Cuts <paramref name="rect"/> into the pieces this encoding sends as separate rectangles: what the encoding
    /// allows (Tight's 2048-pixel width) and what keeps the session's buffers small (one band of rows at a time).
    /// </summary>
    void Split(Rect rect, List<Rect> pieces);

    /// <summary>
    /// Appends one piece's encoded data (after its header) to <paramref name="output"/>: <paramref name="pixels"/> holds
    /// <paramref name="width"/> by <paramref name="height"/> framebuffer pixels, rows packed.
    /// </summary>
    void Encode(RfbOutput output, ReadOnlySpan<byte> pixels, int width, int height, RfbPixelConverter converter);
}
