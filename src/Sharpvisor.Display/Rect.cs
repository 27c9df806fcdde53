namespace Sharpvisor.Display;

/// <summary>A rectangle of pixels; empty when either side is zero or less.</summary>
public readonly record struct Rect(int X, int Y, int Width, int Height)
{
    public bool IsEmpty => Width <= 0 || Height <= 0;

    public int Right => X + Width;

    public int Bottom => Y + Height;

    /// <summary>The part of this rectangle inside <paramref name="other"/>; empty when they do not overlap.</summary>
    public Rect Intersect(Rect other)
    {
        var left = Math.Max(X, other.X);
        var top = Math.Max(Y, other.Y);
        var right = Math.Min((long)X + Width, (long)other.X + other.Width);
        var bottom = Math.Min((long)Y + Height, (long)other.Y + other.Height);
        return right <= left || bottom <= top ? default : new Rect(left, top, (int)(right - left), (int)(bottom - top));
    }

    /// <summary>The smallest rectangle holding both; an empty side does not count.</summary>
    public Rect Union(Rect other)
    {
        if (IsEmpty)
        {
            return other.IsEmpty ? default : other;
        }

        if (other.IsEmpty)
        {
            return this;
        }

        var left = Math.Min(X, other.X);
        var top = Math.Min(Y, other.Y);
        return new Rect(left, top, Math.Max(Right, other.Right) - left, Math.Max(Bottom, other.Bottom) - top);
    }
}
