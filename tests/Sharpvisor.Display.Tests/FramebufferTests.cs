namespace Sharpvisor.Display.Tests;

/// <summary>What this work added to the framebuffer: moves and the cursor.</summary>
public sealed class FramebufferTests
{
    private sealed class Recorder : IFramebufferObserver
    {
        public List<string> Events { get; } = [];

        public void Damaged(Rect area) => Events.Add($"damaged {area.X},{area.Y},{area.Width},{area.Height}");

        public void Resized(int width, int height) => Events.Add($"resized {width}x{height}");
    }

    private sealed class MoveRecorder : IFramebufferObserver
    {
        public List<string> Events { get; } = [];

        public void Damaged(Rect area) => Events.Add("damaged");

        public void Resized(int width, int height)
        {
        }

        public void Moved(Rect source, int destinationX, int destinationY) =>
            Events.Add($"moved {source.X},{source.Y},{source.Width},{source.Height} to {destinationX},{destinationY}");

        public void CursorChanged(DisplayCursor? cursor) => Events.Add(cursor is null ? "cursor hidden" : $"cursor {cursor.Width}x{cursor.Height}");
    }

    [Fact]
    public void An_overlapping_move_down_copies_as_if_through_a_buffer()
    {
        var framebuffer = new Framebuffer(4, 6);
        for (var y = 0; y < 6; y++)
        {
            framebuffer.Fill(new Rect(0, y, 4, 1), (uint)y);
        }

        framebuffer.Move(new Rect(0, 0, 4, 4), 0, 2);

        Assert.Equal([0u, 1u, 0u, 1u, 2u, 3u], Column(framebuffer));
    }

    [Fact]
    public void A_move_is_clipped_on_both_ends_and_reported()
    {
        var framebuffer = new Framebuffer(10, 10);
        var observer = new MoveRecorder();
        using var subscription = framebuffer.Subscribe(observer);

        framebuffer.Move(new Rect(-2, 0, 6, 3), 7, 5); // source partly off the left, destination off the right

        Assert.Equal(["moved 0,0,1,3 to 9,5"], observer.Events);
    }

    [Fact]
    public void An_observer_that_cannot_copy_hears_a_move_as_damage_of_the_destination()
    {
        var framebuffer = new Framebuffer(10, 10);
        var observer = new Recorder();
        using var subscription = framebuffer.Subscribe(observer);

        framebuffer.Move(new Rect(0, 0, 3, 2), 5, 6);
        framebuffer.SetCursor(null);

        Assert.Equal(["damaged 5,6,3,2"], observer.Events);
    }

    [Fact]
    public void The_cursor_is_kept_and_announced()
    {
        var framebuffer = new Framebuffer(10, 10);
        var observer = new MoveRecorder();
        using var subscription = framebuffer.Subscribe(observer);
        var cursor = new DisplayCursor(2, 3, 1, 2, new byte[24]);

        framebuffer.SetCursor(cursor);
        framebuffer.SetCursor(null);

        Assert.Equal(["cursor 2x3", "cursor hidden"], observer.Events);
        Assert.Null(framebuffer.Cursor);
    }

    [Fact]
    public void A_cursor_checks_its_size_hotspot_and_pixels()
    {
        _ = Assert.Throws<ArgumentOutOfRangeException>(() => new DisplayCursor(0, 1, 0, 0, new byte[4]));
        _ = Assert.Throws<ArgumentOutOfRangeException>(() => new DisplayCursor(DisplayCursor.MaxDimension + 1, 1, 0, 0, new byte[4 * 300]));
        _ = Assert.Throws<ArgumentOutOfRangeException>(() => new DisplayCursor(2, 2, 2, 0, new byte[16]));
        _ = Assert.Throws<ArgumentException>(() => new DisplayCursor(2, 2, 0, 0, new byte[15]));
    }

    private static uint[] Column(Framebuffer framebuffer)
    {
        var (width, height) = framebuffer.Size;
        var bytes = new byte[width * height * 4];
        _ = framebuffer.CopyTo(new Rect(0, 0, width, height), bytes, width * 4);
        return Enumerable.Range(0, height).Select(y => BitConverter.ToUInt32(bytes, y * width * 4)).ToArray();
    }
}
