namespace Sharpvisor.Display;

/// <summary>
/// Hears what happens to a <see cref="Framebuffer"/>. Called on the writer's thread with the framebuffer's lock held,
/// so the order is the order of the changes: record what changed and signal, never block or call the framebuffer back.
/// </summary>
public interface IFramebufferObserver
{
    /// <summary>These pixels changed (already clipped to the framebuffer).</summary>
    void Damaged(Rect area);

    /// <summary>The framebuffer has a new size; every pixel is new (black until written).</summary>
    void Resized(int width, int height);

    /// <summary>
    /// <paramref name="source"/>'s pixels were copied to the same-sized rectangle at
    /// (<paramref name="destinationX"/>, <paramref name="destinationY"/>) (both already clipped). An observer that cannot
    /// copy on its side treats it as damage of the destination, which is what this default does.
    /// </summary>
    void Moved(Rect source, int destinationX, int destinationY) =>
        Damaged(new Rect(destinationX, destinationY, source.Width, source.Height));

    /// <summary>The pointer image changed; null when the pointer is hidden.</summary>
    void CursorChanged(DisplayCursor? cursor)
    {
    }
}
