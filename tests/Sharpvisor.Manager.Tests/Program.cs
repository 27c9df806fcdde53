using Sharpvisor.Manager.Store.Postgres;
using Sharpvisor.Manager.Store.Sql;
using Sharpvisor.Manager.Store.Sqlite;

namespace Sharpvisor.Manager.Tests;

/// <summary>
/// This test assembly is also a program, so the durability test can kill a real writer process with SIGKILL:
/// <c>dotnet Sharpvisor.Manager.Tests.dll durability-child sqlite DIR | postgres CONNECTION-STRING</c> creates
/// definitions one after another and prints "acknowledged ID" after each CreateAsync has returned.
/// (The test runner does not use Main; it loads the assembly.)
/// </summary>
public static class Program
{
    public const string DurabilityChild = "durability-child";
    public const string Acknowledged = "acknowledged ";

    public static async Task<int> Main(string[] args)
    {
        if (args is not [DurabilityChild, var backend, var target])
        {
            await Console.Error.WriteLineAsync($"usage: {DurabilityChild} sqlite DIR | postgres CONNECTION-STRING");
            return 2;
        }

        await using SqlVmStore store = backend switch
        {
            "sqlite" => await SqliteVmStore.OpenAsync(target),
            "postgres" => await PostgresVmStore.OpenAsync(target),
            _ => throw new ArgumentException($"unknown backend '{backend}'"),
        };

        // Far more than the test waits for: it kills this process long before the loop ends.
        for (var i = 0; i < 100_000; i++)
        {
            var created = await store.CreateAsync(VmStoreTests.Sample($"durable-{i}"));
            Console.WriteLine(Acknowledged + created.Id.ToString("D"));
        }

        return 0;
    }
}
