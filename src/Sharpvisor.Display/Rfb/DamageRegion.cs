namespace Sharpvisor.Display.Rfb;

/// <summary>
/// The pixels a client has not been sent since they changed: a few rectangles, merged when they overlap enough or
/// when there are too many, so a storm of small writes costs a bounded amount of memory and of rectangles per update.
/// Not thread-safe: its session's lock guards it.
/// </summary>
internal sealed class DamageRegion
{
    public const int MaxRects = 16;

    private readonly List<Rect> _rects = [];

    public bool IsEmpty => _rects.Count == 0;

    public IReadOnlyList<Rect> Rects => _rects;

    public void Clear() => _rects.Clear();

    public void Add(Rect area)
    {
        if (area.IsEmpty)
        {
            return;
        }

        for (var i = _rects.Count - 1; i >= 0; i--)
        {
            var existing = _rects[i];
            if (existing.Intersect(area) == area)
            {
                return; // already covered
            }

            // Absorb what the new one covers, and overlapping ones whose union costs no extra pixels.
            if (area.Intersect(existing) == existing || Area(area.Union(existing)) <= Area(area) + Area(existing) - Area(area.Intersect(existing)))
            {
                area = area.Union(existing);
                _rects.RemoveAt(i);
            }
        }

        _rects.Add(area);
        if (_rects.Count > MaxRects)
        {
            MergeCheapestPair();
        }
    }

    public bool Intersects(Rect area)
    {
        foreach (var rect in _rects)
        {
            if (!rect.Intersect(area).IsEmpty)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Moves the damage inside <paramref name="area"/> to <paramref name="taken"/>; the rest stays.</summary>
    public void Take(Rect area, List<Rect> taken)
    {
        var remaining = new List<Rect>(_rects.Count);
        foreach (var rect in _rects)
        {
            var inside = rect.Intersect(area);
            if (inside.IsEmpty)
            {
                remaining.Add(rect);
                continue;
            }

            taken.Add(inside);
            Subtract(rect, inside, remaining);
        }

        _rects.Clear();
        foreach (var rect in remaining)
        {
            Add(rect);
        }
    }

    /// <summary>Removes <paramref name="area"/> from the damage.</summary>
    public void Remove(Rect area) => Take(area, []);

    /// <summary>Adds to <paramref name="output"/> the up to four pieces of <paramref name="rect"/> outside <paramref name="hole"/> (which lies inside it).</summary>
    private static void Subtract(Rect rect, Rect hole, List<Rect> output)
    {
        AddIfAny(output, new Rect(rect.X, rect.Y, rect.Width, hole.Y - rect.Y)); // above
        AddIfAny(output, new Rect(rect.X, hole.Bottom, rect.Width, rect.Bottom - hole.Bottom)); // below
        AddIfAny(output, new Rect(rect.X, hole.Y, hole.X - rect.X, hole.Height)); // left
        AddIfAny(output, new Rect(hole.Right, hole.Y, rect.Right - hole.Right, hole.Height)); // right
    }

    private static void AddIfAny(List<Rect> output, Rect rect)
    {
        if (!rect.IsEmpty)
        {
            output.Add(rect);
        }
    }

    private void MergeCheapestPair()
    {
        var (best, bestOther, bestCost) = (0, 1, long.MaxValue);
        for (var i = 0; i < _rects.Count; i++)
        {
            for (var j = i + 1; j < _rects.Count; j++)
            {
                var cost = Area(_rects[i].Union(_rects[j])) - Area(_rects[i]) - Area(_rects[j]);
                if (cost < bestCost)
                {
                    (best, bestOther, bestCost) = (i, j, cost);
                }
            }
        }

        var merged = _rects[best].Union(_rects[bestOther]);
        _rects.RemoveAt(bestOther);
        _rects.RemoveAt(best);
        Add(merged);
    }

    private static long Area(Rect rect) => rect.IsEmpty ? 0 : (long)rect.Width * rect.Height;
}
