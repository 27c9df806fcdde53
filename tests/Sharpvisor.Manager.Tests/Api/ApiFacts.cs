using Xunit.Abstractions;
using Xunit.Sdk;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// A fact of the shared API tests that runs real VMMs: skipped without a usable /dev/kvm (as <see cref="KvmFactAttribute"/>)
/// and, in a class marked <see cref="RequiresPostgresAttribute"/>, without a PostgreSQL server (as <see cref="StoreFactAttribute"/>).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Sharpvisor.Manager.Tests.Api.KvmStoreFactDiscoverer", "Sharpvisor.Manager.Tests")]
[TraitDiscoverer(KvmTraitDiscoverer.TypeName, KvmTraitDiscoverer.AssemblyName)]
public sealed class KvmStoreFactAttribute : FactAttribute, IKvmRequirement
{
    bool IKvmRequirement.NeedsKvm => true;
}

public sealed class KvmStoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        yield return new KvmStoreTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
    }
}

public sealed class KvmStoreTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public KvmStoreTestCase()
    {
    }

    public KvmStoreTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, display, displayOptions, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? KvmAvailability.SkipReason
        ?? (TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any() ? PostgresServer.SkipReason : null)!;
}
