using Sharpvisor.Kvm;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// A test that boots a guest on /dev/kvm. Without a usable /dev/kvm it is skipped on a developer's machine,
/// but under CI=true it runs (and fails), so a green CI always means the guests really booted.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (KvmAvailability.Problem is { } problem && !KvmAvailability.IsCi)
        {
            Skip = $"no usable /dev/kvm ({problem}); set CI=true to make this a failure";
        }
    }
}

/// <summary>The theory form of <see cref="KvmFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KvmTheoryAttribute : TheoryAttribute
{
    public KvmTheoryAttribute()
    {
        if (KvmAvailability.Problem is { } problem && !KvmAvailability.IsCi)
        {
            Skip = $"no usable /dev/kvm ({problem}); set CI=true to make this a failure";
        }
    }
}

internal static class KvmAvailability
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Problem { get; } = Probe();

    private static string? Probe()
    {
        try
        {
            using var kvm = KvmSystem.Open();
            return null;
        }
        catch (KvmException e)
        {
            return e.Message;
        }
    }
}
