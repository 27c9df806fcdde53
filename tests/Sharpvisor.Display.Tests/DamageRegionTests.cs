using Sharpvisor.Display.Rfb;

namespace Sharpvisor.Display.Tests;

/// <summary>The per-client damage bookkeeping.</summary>
public sealed class DamageRegionTests
{
    [Fact]
    public void Contained_and_aligned_neighbours_merge_far_apart_ones_do_not()
    {
        var region = new DamageRegion();
        region.Add(new Rect(0, 0, 10, 10));
        region.Add(new Rect(2, 2, 3, 3)); // inside
        region.Add(new Rect(0, 10, 10, 5)); // directly below, same columns
        region.Add(new Rect(100, 100, 5, 5));

        Assert.Equal([new Rect(0, 0, 10, 15), new Rect(100, 100, 5, 5)], region.Rects.Order(Comparer<Rect>.Create((a, b) => a.X - b.X)));
    }

    [Fact]
    public void Too_many_rectangles_merge_but_still_cover_everything()
    {
        var region = new DamageRegion();
        var added = Enumerable.Range(0, 200).Select(i => new Rect((i * 37) % 500, (i * 91) % 500, 2, 2)).ToList();
        foreach (var rect in added)
        {
            region.Add(rect);
        }

        Assert.InRange(region.Rects.Count, 1, DamageRegion.MaxRects);
        Assert.All(added, rect => Assert.Contains(region.Rects, r => r.Intersect(rect) == rect));
    }

    [Fact]
    public void Take_moves_the_inside_and_keeps_the_outside()
    {
        var region = new DamageRegion();
        region.Add(new Rect(0, 0, 100, 100));
        var taken = new List<Rect>();

        region.Take(new Rect(20, 30, 10, 10), taken);

        Assert.Equal([new Rect(20, 30, 10, 10)], taken);
        Assert.Equal(100 * 100 - 100, region.Rects.Sum(r => r.Width * r.Height));
        Assert.False(region.Intersects(new Rect(20, 30, 10, 10)));
        Assert.True(region.Intersects(new Rect(19, 30, 1, 1)));
    }

    [Fact]
    public void Empty_rectangles_are_no_damage()
    {
        var region = new DamageRegion();
        region.Add(new Rect(5, 5, 0, 10));
        region.Add(new Rect(5, 5, -3, 10));
        Assert.True(region.IsEmpty);
    }
}
