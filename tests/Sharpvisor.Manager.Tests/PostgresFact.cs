using Xunit.Abstractions;
using Xunit.Sdk;

namespace Sharpvisor.Manager.Tests;

/// <summary>
/// Marks a test class whose tests need the PostgreSQL server named by <see cref="PostgresServer.EnvironmentVariable"/>.
/// Its <see cref="StoreFactAttribute"/> tests are skipped without one, except under CI=true, where they run (and fail),
/// so a green CI always means the PostgreSQL store really was tested. (.ci/run starts a server and sets the variable.)
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>
/// A fact of the shared store tests: it runs once per concrete test class (one per database), and is skipped where
/// that class is marked <see cref="RequiresPostgresAttribute"/> and no server is configured.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Sharpvisor.Manager.Tests.StoreFactDiscoverer", "Sharpvisor.Manager.Tests")]
public sealed class StoreFactAttribute : FactAttribute;

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        yield return new StoreTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
    }
}

public sealed class StoreTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public StoreTestCase()
    {
    }

    public StoreTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, display, displayOptions, testMethod)
    {
    }

    // Decided from the concrete class, which the attribute on the shared (abstract) method cannot know.
    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute)
        ?? (TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any() ? PostgresServer.SkipReason : null)!;
}

public static class PostgresServer
{
    public const string EnvironmentVariable = "SHARPVISOR_TEST_POSTGRES";

    /// <summary>An Npgsql connection string to a database the tests may create schemas in; null when not configured.</summary>
    public static string? ConnectionString =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } value ? value : null;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? SkipReason => ConnectionString is null && !IsCi
        ? $"no PostgreSQL server: set {EnvironmentVariable} to an Npgsql connection string (CI=true makes this a failure)"
        : null;

    public static string Require() => ConnectionString
        ?? throw new InvalidOperationException($"{EnvironmentVariable} is not set: CI must start a PostgreSQL server (see .ci/run)");
}
