namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>Cuts rectangles into pieces no wider and taller than a limit.</summary>
internal static class Bands
{
    public static void Split(Rect rect, int maxWidth, int maxHeight, List<Rect> pieces)
    {
        // In 64 bits: a limit of int.MaxValue ("whole rows") must not wrap the position.
        for (long y = rect.Y; y < rect.Bottom; y += maxHeight)
        {
            var height = (int)Math.Min(maxHeight, rect.Bottom - y);
            for (long x = rect.X; x < rect.Right; x += maxWidth)
            {
                pieces.Add(new Rect((int)x, (int)y, (int)Math.Min(maxWidth, rect.Right - x), height));
            }
        }
    }
}
