namespace Sharpvisor.Ui.Tests;

/// <summary>
/// A test that drives Debian's chromium (<see cref="Browser.ChromiumPath"/>). Without it the test is skipped on a
/// developer's machine but runs (and fails) under CI=true, where .ci/run installs it. <see cref="NeedsKvm"/> adds
/// the <see cref="KvmFactAttribute"/> rule for tests that also boot guests; <see cref="NeedsUserSpaceDaemon"/> the
/// <see cref="UserSpaceDaemon"/> rule for tests whose guests run user space.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[Xunit.Sdk.TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class ChromiumFactAttribute : FactAttribute, IKvmRequirement
{
    private bool _needsKvm;
    private bool _needsUserSpaceDaemon;

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Browser.ChromiumPath) && !KvmAvailability.IsCi)
        {
            Skip = $"no {Browser.ChromiumPath} (apt-get install chromium); set CI=true to make this a failure";
        }
    }

    /// <summary>Also skipped (outside CI) without a usable /dev/kvm, as <see cref="KvmFactAttribute"/> does.</summary>
    public bool NeedsKvm
    {
        get => _needsKvm;
        set
        {
            _needsKvm = value;
            if (value && Skip is null)
            {
                Skip = KvmAvailability.SkipReason;
            }
        }
    }

    /// <summary>
    /// Also skipped (outside CI) where <see cref="UserSpaceDaemon"/> cannot run. No KVM trait: such a test runs on this
    /// host on every CI path (its daemon goes into a nested KVM host where this one cannot run guest user space).
    /// </summary>
    public bool NeedsUserSpaceDaemon
    {
        get => _needsUserSpaceDaemon;
        set
        {
            _needsUserSpaceDaemon = value;
            if (value && Skip is null)
            {
                Skip = UserSpaceDaemon.SkipReason;
            }
        }
    }
}
