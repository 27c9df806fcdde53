namespace Sharpvisor.Display.Tests.Support;

/// <summary>Pictures that drive each encoder down each of its paths.</summary>
internal static class Content
{
    public static readonly string[] Names = ["random", "solid", "two-colours", "few-colours", "palette-runs", "many-colour-runs"];

    /// <summary>The picture <paramref name="name"/> of the given size as pixels X8R8G8B8 (the X byte set to junk too).</summary>
    public static Func<int, int, uint> Pattern(string name, int width, int seed)
    {
        var random = new Random(seed);
        switch (name)
        {
            case "random":
                var pixels = Enumerable.Range(0, width * 4096).Select(_ => (uint)random.NextInt64(0, 1L << 32)).ToArray();
                return (x, y) => pixels[((y * width) + x) % pixels.Length];
            case "solid":
                return (_, _) => 0xAB33_6699;
            case "two-colours":
                return (x, y) => ((x * 7) + (y * 13) + ((x * y) % 5)) % 3 == 0 ? 0x00FF_FFFFu : 0x0000_0080u;
            case "few-colours":
                uint[] five = [0x00102030, 0x00FF0000, 0x0000FF00, 0x000000FF, 0x00FFFF00];
                return (x, y) => five[((x * 31) + (y * 17) + (x * y)) % 5];
            case "palette-runs":
                return Runs(width, random, colours: 40, maxRun: 300);
            default:
                return Runs(width, random, colours: 5000, maxRun: 40);
        }
    }

    // Horizontal runs, crossing row ends, of random colours from a fixed set.
    private static Func<int, int, uint> Runs(int width, Random random, int colours, int maxRun)
    {
        var set = Enumerable.Range(0, colours).Select(_ => (uint)random.Next(0, 1 << 24)).ToArray();
        var cells = new uint[width * 1024];
        for (var i = 0; i < cells.Length;)
        {
            var run = random.Next(1, maxRun + 1);
            var colour = set[random.Next(colours)];
            for (var j = 0; j < run && i < cells.Length; j++, i++)
            {
                cells[i] = colour;
            }
        }

        return (x, y) => cells[((y * width) + x) % cells.Length];
    }
}
