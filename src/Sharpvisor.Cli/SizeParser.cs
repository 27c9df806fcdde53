using System.Globalization;

namespace Sharpvisor.Cli;

/// <summary>Parses memory sizes the way QEMU's -m does: a bare number is MiB; K, M, G, T suffixes (optionally "iB"/"B").</summary>
internal static class SizeParser
{
    /// <param name="text">What the user typed.</param>
    /// <param name="option">What to call it in an error.</param>
    /// <param name="bareUnit">What a number without a suffix counts: MiB for memory (-m), bytes for disk images (qemu-img).</param>
    public static ulong Parse(string text, string option, ulong bareUnit = 1UL << 20)
    {
        var s = text.Trim();
        var unit = bareUnit;
        var suffixStart = s.Length;
        while (suffixStart > 0 && char.IsLetter(s[suffixStart - 1]))
        {
            suffixStart--;
        }

        var suffix = s[suffixStart..].ToUpperInvariant();
        if (suffixStart > 0 && suffix.Length > 0)
        {
            unit = suffix switch
            {
                "K" or "KB" or "KIB" => 1UL << 10,
                "M" or "MB" or "MIB" => 1UL << 20,
                "G" or "GB" or "GIB" => 1UL << 30,
                "T" or "TB" or "TIB" => 1UL << 40,
                "B" => 1,
                _ => throw new UsageException($"{option} '{text}': unknown size suffix '{s[suffixStart..]}' (use K, M, G or T)"),
            };
        }

        if (!ulong.TryParse(s[..suffixStart], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value == 0)
        {
            throw new UsageException($"{option} '{text}' is not a size (examples: 128M, 4G, 64G)");
        }

        if (value > ulong.MaxValue / unit)
        {
            throw new UsageException($"{option} '{text}' is too large");
        }

        return value * unit;
    }
}
