using Npgsql;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Store.Postgres;
using Sharpvisor.Manager.Store.Sql;

namespace Sharpvisor.Manager.Tests;

/// <summary>
/// The store tests on a real PostgreSQL server (<see cref="PostgresServer"/>), each test in a schema of its own that
/// it drops at the end, so tests can run side by side in one database.
/// </summary>
[RequiresPostgres]
public sealed class PostgresVmStoreTests : VmStoreTests
{
    private readonly string _schema = "sharpvisor_test_" + Guid.NewGuid().ToString("N");
    private readonly List<string> _schemas = [];

    protected override string[] ChildArguments => ["postgres", ConnectionString(_schema)];

    protected override async Task<SqlVmStore> OpenStoreAsync(TimeProvider? time = null) =>
        await PostgresVmStore.OpenAsync(ConnectionString(_schema), time);

    protected override async Task<SqlVmStore> OpenOtherDatabaseAsync(string name)
    {
        var schema = $"{_schema}_{name}";
        await CreateSchemaAsync(schema);
        return await PostgresVmStore.OpenAsync(ConnectionString(schema));
    }

    protected override Task CreateDatabaseAsync() => CreateSchemaAsync(_schema);

    protected override async Task DropDatabaseAsync()
    {
        foreach (var schema in _schemas)
        {
            await AdminAsync($"DROP SCHEMA IF EXISTS {schema} CASCADE");
        }
    }

    private async Task CreateSchemaAsync(string schema)
    {
        if (!_schemas.Contains(schema))
        {
            _schemas.Add(schema);
            await AdminAsync($"CREATE SCHEMA IF NOT EXISTS {schema}");
        }
    }

    private static string ConnectionString(string schema) =>
        new NpgsqlConnectionStringBuilder(PostgresServer.Require()) { SearchPath = schema }.ConnectionString;

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresServer.Require());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [StoreFact]
    public async Task A_database_from_a_newer_build_is_refused()
    {
        await using (var connection = new NpgsqlConnection(ConnectionString(_schema)))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'from the future', 0)", connection);
            await command.ExecuteNonQueryAsync();
        }

        var e = await Assert.ThrowsAsync<VmStoreException>(() => OpenStoreAsync());
        Assert.Contains("version 999", e.Message, StringComparison.Ordinal);
    }
}
