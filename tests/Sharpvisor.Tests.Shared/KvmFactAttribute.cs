using Sharpvisor.Kvm;
using Sharpvisor.Kvm.Host;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Sharpvisor.Tests.Shared;

/// <summary>
/// A test that boots a guest on /dev/kvm. Without a usable /dev/kvm it is skipped on a developer's machine (the reason
/// names the command that runs it in a nested KVM host), but under CI=true it runs (and fails), so a green CI always
/// means the guests really booted. It carries the trait <c>Needs=Kvm</c>, by which .ci/run runs the KVM tests apart.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class KvmFactAttribute : FactAttribute, IKvmRequirement
{
    private bool _needsGuestUserSpace;

    public KvmFactAttribute()
    {
        Skip = KvmAvailability.SkipReason;
    }

    bool IKvmRequirement.NeedsKvm => true;

    /// <summary>
    /// The guest runs user-space programs, which a host whose KVM emulates instructions (PVM) cannot run: there the
    /// test is skipped with that reason, also under CI, and carries the trait <c>Needs=GuestUserSpace</c> too, by which
    /// .ci/run runs it in the nested KVM host instead.
    /// </summary>
    public bool NeedsGuestUserSpace
    {
        get => _needsGuestUserSpace;
        set
        {
            _needsGuestUserSpace = value;
            Skip = KvmAvailability.SkipReasonFor(value);
        }
    }
}

/// <summary>The theory form of <see cref="KvmFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
[TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class KvmTheoryAttribute : TheoryAttribute, IKvmRequirement
{
    private bool _needsGuestUserSpace;

    public KvmTheoryAttribute()
    {
        Skip = KvmAvailability.SkipReason;
    }

    bool IKvmRequirement.NeedsKvm => true;

    /// <summary>As <see cref="KvmFactAttribute.NeedsGuestUserSpace"/>.</summary>
    public bool NeedsGuestUserSpace
    {
        get => _needsGuestUserSpace;
        set
        {
            _needsGuestUserSpace = value;
            Skip = KvmAvailability.SkipReasonFor(value);
        }
    }
}

/// <summary>
/// A test attribute that says whether its test boots guests on /dev/kvm (<see cref="KvmTraitDiscoverer"/> turns that
/// into traits). Implemented by every such attribute, also those of other test projects, which name the discoverer
/// with <c>[TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]</c>.
/// </summary>
public interface IKvmRequirement : ITraitAttribute
{
    /// <summary>False for an attribute whose test boots no guest (e.g. a browser test that needs no VM).</summary>
    bool NeedsKvm { get; }

    /// <summary>The guest runs user space (see <see cref="KvmFactAttribute.NeedsGuestUserSpace"/>).</summary>
    bool NeedsGuestUserSpace => false;
}

/// <summary>
/// Gives every test whose attribute is an <see cref="IKvmRequirement"/> that needs KVM the trait <c>Needs=Kvm</c>
/// (and <c>Needs=GuestUserSpace</c> when it runs guest user space): <c>dotnet test --filter Needs=Kvm</c> runs exactly
/// the KVM tests, <c>--filter Needs!=Kvm</c> the others.
/// </summary>
public sealed class KvmTraitDiscoverer : ITraitDiscoverer
{
    public const string TypeName = "Sharpvisor.Tests.Shared.KvmTraitDiscoverer";
    public const string AssemblyName = "Sharpvisor.Tests.Shared";
    public const string Name = "Needs";

    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute)
    {
        if (traitAttribute is not IReflectionAttributeInfo { Attribute: IKvmRequirement { NeedsKvm: true } requirement })
        {
            yield break;
        }

        yield return new KeyValuePair<string, string>(Name, "Kvm");
        if (requirement.NeedsGuestUserSpace)
        {
            yield return new KeyValuePair<string, string>(Name, "GuestUserSpace");
        }
    }
}

public static class KvmAvailability
{
    /// <summary>The one command that runs the KVM tests where this machine has no /dev/kvm (tools/nested-kvm).</summary>
    public const string NestedCommand = "tools/nested-kvm/test";

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why /dev/kvm cannot be used here (null when it can).</summary>
    public static string? Problem { get; } = Probe();

    /// <summary>The skip reason of a KVM test: null where it runs (a usable /dev/kvm, or CI=true, where it must).</summary>
    public static string? SkipReason => Problem is { } problem && !IsCi
        ? $"no usable /dev/kvm ({problem}); run the KVM tests in a nested KVM host: {NestedCommand} (CI=true makes this a failure)"
        : null;

    /// <summary>
    /// The skip reason of a KVM test that may run guest user space: on a PVM host (which emulates every guest
    /// instruction and has no guest user mode) it is skipped also under CI, where .ci/run runs it nested instead.
    /// </summary>
    public static string? SkipReasonFor(bool needsGuestUserSpace) =>
        SkipReason ?? (needsGuestUserSpace && Problem is null && HostVirtualization.Detect() == VirtualizationKind.PvmEmulation
            ? $"this host's KVM is PVM emulation, which runs no guest user space; run it in a nested KVM host: {NestedCommand} --filter Needs=GuestUserSpace"
            : null);

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
