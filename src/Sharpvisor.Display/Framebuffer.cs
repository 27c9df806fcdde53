namespace Sharpvisor.Display;

/// <summary>
/// One display head's picture as the host keeps it: <see cref="Width"/> by <see cref="Height"/> pixels of 32 bits,
/// X8R8G8B8 little-endian (bytes B, G, R, unused), rows packed. A device writes it (and says which pixels it
/// changed); the display servers read it. Every access takes one lock, held only for a copy, so a reader always sees
/// whole writes and never a size that does not match the pixels.
/// </summary>
public sealed class Framebuffer
{
    /// <summary>The largest side: 8192 pixels (256 MiB of pixels at most); RFB itself stops at 65535.</summary>
    public const int MaxDimension = 8192;

    public const int BytesPerPixel = 4;

    private readonly Lock _lock = new();
    private readonly List<IFramebufferObserver> _observers = [];
    private byte[] _pixels;
    private DisplayCursor? _cursor;

    public Framebuffer(int width, int height)
    {
        CheckSize(width, height);
        Width = width;
        Height = height;
        _pixels = new byte[(long)width * height * BytesPerPixel];
    }

    public int Width { get; private set; }

    public int Height { get; private set; }

    /// <summary>Width and height read together (the two properties alone may straddle a resize).</summary>
    public (int Width, int Height) Size
    {
        get
        {
            lock (_lock)
            {
                return (Width, Height);
            }
        }
    }

    /// <summary>Gives the framebuffer a new size, all black; the same size again changes nothing.</summary>
    public void Resize(int width, int height)
    {
        CheckSize(width, height);
        lock (_lock)
        {
            if (width == Width && height == Height)
            {
                return;
            }

            _pixels = new byte[(long)width * height * BytesPerPixel];
            Width = width;
            Height = height;
            foreach (var observer in _observers)
            {
                observer.Resized(width, height);
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="area"/>'s pixels from <paramref name="source"/> (X8R8G8B8, the area's top-left pixel
    /// first, rows <paramref name="sourceStride"/> bytes apart) and reports the part inside the framebuffer damaged.
    /// The part outside is ignored: a device may hand over a rectangle the guest placed partly off screen.
    /// </summary>
    public void Write(Rect area, ReadOnlySpan<byte> source, int sourceStride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sourceStride);
        lock (_lock)
        {
            var clipped = area.Intersect(new Rect(0, 0, Width, Height));
            if (clipped.IsEmpty)
            {
                return;
            }

            var rowBytes = clipped.Width * BytesPerPixel;
            var sourceStart = ((long)(clipped.Y - area.Y) * sourceStride) + ((long)(clipped.X - area.X) * BytesPerPixel);
            var lastRowEnd = sourceStart + ((long)(clipped.Height - 1) * sourceStride) + rowBytes;
            if (sourceStride < rowBytes || lastRowEnd > source.Length)
            {
                throw new ArgumentException($"the source holds {source.Length} bytes, the area needs {lastRowEnd} at stride {sourceStride}", nameof(source));
            }

            for (var row = 0; row < clipped.Height; row++)
            {
                source.Slice((int)(sourceStart + ((long)row * sourceStride)), rowBytes)
                    .CopyTo(_pixels.AsSpan((int)Offset(clipped.X, clipped.Y + row), rowBytes));
            }

            Damage(clipped);
        }
    }

    /// <summary>Paints <paramref name="area"/> (clipped) one colour, 0x00RRGGBB, and reports it damaged.</summary>
    public void Fill(Rect area, uint rgb)
    {
        lock (_lock)
        {
            var clipped = area.Intersect(new Rect(0, 0, Width, Height));
            if (clipped.IsEmpty)
            {
                return;
            }

            for (var row = 0; row < clipped.Height; row++)
            {
                var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(
                    _pixels.AsSpan((int)Offset(clipped.X, clipped.Y + row), clipped.Width * BytesPerPixel));
                pixels.Fill(rgb & 0x00FF_FFFF);
            }

            Damage(clipped);
        }
    }

    /// <summary>
    /// Copies <paramref name="area"/> (clipped; the clipped area is returned) into <paramref name="destination"/>,
    /// rows <paramref name="destinationStride"/> bytes apart: how a server takes a consistent picture to encode.
    /// </summary>
    public Rect CopyTo(Rect area, Span<byte> destination, int destinationStride)
    {
        lock (_lock)
        {
            var clipped = area.Intersect(new Rect(0, 0, Width, Height));
            if (clipped.IsEmpty)
            {
                return default;
            }

            var rowBytes = clipped.Width * BytesPerPixel;
            if (destinationStride < rowBytes || ((long)(clipped.Height - 1) * destinationStride) + rowBytes > destination.Length)
            {
                throw new ArgumentException($"the destination holds {destination.Length} bytes, too few for {clipped} at stride {destinationStride}", nameof(destination));
            }

            for (var row = 0; row < clipped.Height; row++)
            {
                _pixels.AsSpan((int)Offset(clipped.X, clipped.Y + row), rowBytes).CopyTo(destination.Slice(row * destinationStride, rowBytes));
            }

            return clipped;
        }
    }

    /// <summary>The pointer image clients draw over the picture; null when hidden (the start).</summary>
    public DisplayCursor? Cursor
    {
        get
        {
            lock (_lock)
            {
                return _cursor;
            }
        }
    }

    /// <summary>Sets the pointer image (null hides it) and tells the observers.</summary>
    public void SetCursor(DisplayCursor? cursor)
    {
        lock (_lock)
        {
            _cursor = cursor;
            foreach (var observer in _observers)
            {
                observer.CursorChanged(cursor);
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="source"/>'s pixels to the same-sized rectangle at (<paramref name="destinationX"/>,
    /// <paramref name="destinationY"/>), the two may overlap (a scroll), and tells the observers, which lets a display
    /// server send a copy instead of the pixels. Both rectangles are clipped to the framebuffer together.
    /// </summary>
    public void Move(Rect source, int destinationX, int destinationY)
    {
        lock (_lock)
        {
            var screen = new Rect(0, 0, Width, Height);
            var clippedSource = source.Intersect(screen);
            if (clippedSource.IsEmpty)
            {
                return;
            }

            long dx = (long)destinationX - source.X;
            long dy = (long)destinationY - source.Y;
            if (Math.Abs(dx) >= Width || Math.Abs(dy) >= Height)
            {
                return; // the destination is wholly off screen
            }

            var destination = new Rect(clippedSource.X + (int)dx, clippedSource.Y + (int)dy, clippedSource.Width, clippedSource.Height).Intersect(screen);
            if (destination.IsEmpty)
            {
                return;
            }

            var from = new Rect(destination.X - (int)dx, destination.Y - (int)dy, destination.Width, destination.Height);
            var rowBytes = from.Width * BytesPerPixel;

            // Rows go bottom-up when moving down so an overlapping source is read before it is overwritten; Span's
            // CopyTo already handles the overlap within one row.
            for (var i = 0; i < from.Height; i++)
            {
                var row = dy > 0 ? from.Height - 1 - i : i;
                _pixels.AsSpan((int)Offset(from.X, from.Y + row), rowBytes)
                    .CopyTo(_pixels.AsSpan((int)Offset(destination.X, destination.Y + row), rowBytes));
            }

            foreach (var observer in _observers)
            {
                observer.Moved(from, destination.X, destination.Y);
            }
        }
    }

    /// <summary>Starts telling <paramref name="observer"/> about changes until the result is disposed.</summary>
    public IDisposable Subscribe(IFramebufferObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        lock (_lock)
        {
            _observers.Add(observer);
        }

        return new Subscription(this, observer);
    }

    private long Offset(int x, int y) => (((long)y * Width) + x) * BytesPerPixel;

    private void Damage(Rect area)
    {
        foreach (var observer in _observers)
        {
            observer.Damaged(area);
        }
    }

    private static void CheckSize(int width, int height)
    {
        if (width is < 1 or > MaxDimension || height is < 1 or > MaxDimension)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"a framebuffer is 1 to {MaxDimension} pixels a side, not {width}x{height}");
        }
    }

    private sealed class Subscription(Framebuffer framebuffer, IFramebufferObserver observer) : IDisposable
    {
        public void Dispose()
        {
            lock (framebuffer._lock)
            {
                framebuffer._observers.Remove(observer);
            }
        }
    }
}
