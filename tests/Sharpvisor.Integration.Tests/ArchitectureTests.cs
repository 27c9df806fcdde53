using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// The process boundaries of README.md's Layout, read from the compiled assemblies' metadata (what each one really
/// links, not what its project file says): the VMM binary links no manager and no web stack, the manager links no
/// VMM internals, and the two contracts are leaves. A using that crosses a boundary fails here, not in a review.
/// </summary>
public sealed class ArchitectureTests
{
    [Theory]
    [InlineData("sharpvisor", "Sharpvisor.Manager")]
    [InlineData("sharpvisor", "sharpvisor-serve")]
    [InlineData("sharpvisor", "Microsoft.AspNetCore")]
    [InlineData("sharpvisor", "Npgsql")]
    [InlineData("Sharpvisor.Vmm", "Sharpvisor.Manager")]
    [InlineData("Sharpvisor.Vmm", "Sharpvisor.Api")]
    [InlineData("Sharpvisor.Vmm", "Microsoft.AspNetCore")]
    [InlineData("Sharpvisor.Manager", "Sharpvisor.Vmm")]
    [InlineData("sharpvisor-serve", "Sharpvisor.Vmm")]
    [InlineData("sharpvisor-serve", "sharpvisor")]
    [InlineData("Sharpvisor.Api", "Microsoft.AspNetCore")]
    [InlineData("Sharpvisor.Display", "Microsoft.AspNetCore")]
    public void AssemblyDoesNotLinkForbiddenOne(string assembly, string forbidden)
    {
        var closure = Closure(assembly);
        var offending = closure.Where(name => name == forbidden || name.StartsWith(forbidden + ".", StringComparison.Ordinal)).ToArray();
        Assert.True(offending.Length == 0, $"{assembly} links {string.Join(", ", offending)} (closure: {string.Join(", ", closure.Order(StringComparer.Ordinal))})");
    }

    [Theory]
    [InlineData("Sharpvisor.Control")]
    [InlineData("Sharpvisor.Api", "Sharpvisor.Control")]
    [InlineData("Sharpvisor.Display")] // the VNC server: the VMM links it, the manager may, it links neither
    public void ContractIsALeaf(string assembly, params string[] allowed)
    {
        var own = DirectReferences(assembly).Where(name => !IsFramework(name) && !allowed.Contains(name)).ToArray();
        Assert.True(own.Length == 0, $"{assembly} references {string.Join(", ", own)}: a contract links only the framework{(allowed.Length > 0 ? " and " + string.Join(", ", allowed) : "")}");
    }

    [Fact]
    public void BothSidesSpeakThroughTheControlContract()
    {
        // The guard above would pass vacuously if an assembly were missing; these say the closures are the real ones.
        Assert.Contains("Sharpvisor.Control", Closure("sharpvisor"));
        Assert.Contains("Sharpvisor.Control", Closure("Sharpvisor.Manager"));
        Assert.Contains("Sharpvisor.Vmm", Closure("sharpvisor"));
        Assert.Contains("Sharpvisor.Manager", Closure("sharpvisor-serve"));
    }

    private static bool IsFramework(string name) => name is "System" or "netstandard" or "mscorlib" || name.StartsWith("System.", StringComparison.Ordinal) || name.StartsWith("Microsoft.Win32.", StringComparison.Ordinal);

    /// <summary>Every assembly <paramref name="root"/> links, directly or through our own assemblies beside the tests.</summary>
    private static HashSet<string> Closure(string root)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<string>([root]);
        while (pending.TryDequeue(out var name))
        {
            foreach (var reference in DirectReferences(name))
            {
                if (seen.Add(reference) && File.Exists(PathOf(reference)))
                {
                    pending.Enqueue(reference);
                }
            }
        }

        return seen;
    }

    private static string PathOf(string assembly) => Path.Combine(AppContext.BaseDirectory, assembly + ".dll");

    private static List<string> DirectReferences(string assembly)
    {
        var path = PathOf(assembly);
        Assert.True(File.Exists(path), $"{path} is missing: the test reads the built assemblies beside it");
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        return [.. metadata.AssemblyReferences.Select(handle => metadata.GetString(metadata.GetAssemblyReference(handle).Name))];
    }
}
