using System.Text.RegularExpressions;

namespace Sharpvisor.Manager.Api;

/// <summary>A storage root under a name: the pools of the API, the CLI and the web UI.</summary>
public sealed partial record StoragePool(string Name, string Path)
{
    /// <summary>The name of the data directory's own images directory, the root when none is configured.</summary>
    public const string DefaultName = "default";

    /// <summary>1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit (pool and image names, up to 128 for images).</summary>
    public static bool IsValidName(string? name) => name is not null && PoolName().IsMatch(name);

    /// <summary>
    /// Each root named: by <paramref name="names"/>, else "default" for the data directory's images, else after its
    /// directory (characters a name cannot hold become '-'); a name taken already gets "-2", "-3"...
    /// </summary>
    public static IReadOnlyList<StoragePool> Of(IReadOnlyList<string> roots, IReadOnlyDictionary<string, string>? names, string defaultRoot)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var pools = new List<StoragePool>(roots.Count);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var root in roots)
        {
            var name = names?.GetValueOrDefault(root) ?? (root == defaultRoot ? DefaultName : NameOf(root));
            var unique = name;
            for (var n = 2; !taken.Add(unique); n++)
            {
                unique = $"{name}-{n}";
            }

            pools.Add(new StoragePool(unique, root));
        }

        return pools;
    }

    private static string NameOf(string root)
    {
        var leaf = System.IO.Path.GetFileName(root.TrimEnd('/'));
        var cleaned = NotInName().Replace(leaf, "-");
        if (cleaned.Length > 64)
        {
            cleaned = cleaned[..64];
        }

        return IsValidName(cleaned) ? cleaned : "pool";
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex PoolName();

    [GeneratedRegex(@"[^A-Za-z0-9._-]")]
    private static partial Regex NotInName();
}
