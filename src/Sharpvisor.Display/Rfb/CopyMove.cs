namespace Sharpvisor.Display.Rfb;

/// <summary>A region the framebuffer moved that a client will be told to copy on its side (CopyRect).</summary>
internal readonly record struct CopyMove(Rect Source, int DestinationX, int DestinationY)
{
    public Rect Destination => new(DestinationX, DestinationY, Source.Width, Source.Height);
}
