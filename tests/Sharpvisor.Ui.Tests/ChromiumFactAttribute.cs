namespace Sharpvisor.Ui.Tests;

/// <summary>
/// A test that drives Debian's chromium (<see cref="Browser.ChromiumPath"/>). Without it the test is skipped on a
/// developer's machine but runs (and fails) under CI=true, where .ci/run installs it. <see cref="NeedsKvm"/> adds
/// the <see cref="KvmFactAttribute"/> rule for tests that also boot guests.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[Xunit.Sdk.TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class ChromiumFactAttribute : FactAttribute, IKvmRequirement
{
    private bool _needsKvm;

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
}
