using Microsoft.Data.Sqlite;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Store.Sql;
using Sharpvisor.Manager.Store.Sqlite;

namespace Sharpvisor.Manager.Tests;

/// <summary>The store tests on a real SQLite file in a temporary data directory.</summary>
public sealed class SqliteVmStoreTests : VmStoreTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-store-").FullName;

    private string DataDirectory => Path.Combine(_directory, "data");

    protected override string[] ChildArguments => ["sqlite", DataDirectory];

    protected override async Task<SqlVmStore> OpenStoreAsync(TimeProvider? time = null) =>
        await SqliteVmStore.OpenAsync(DataDirectory, time);

    protected override async Task<SqlVmStore> OpenOtherDatabaseAsync(string name) =>
        await SqliteVmStore.OpenAsync(Path.Combine(_directory, name));

    protected override Task DropDatabaseAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_file_is_in_the_data_directory_in_wal_mode_with_full_sync_and_foreign_keys()
    {
        var store = (SqliteVmStore)Store;

        Assert.Equal(Path.Combine(DataDirectory, SqliteVmStore.FileName), store.DatabasePath);
        Assert.True(File.Exists(store.DatabasePath));
        Assert.Equal("wal", await store.PragmaAsync("journal_mode"));
        Assert.Equal(2L, await store.PragmaAsync("synchronous")); // FULL
        Assert.Equal(1L, await store.PragmaAsync("foreign_keys"));
        Assert.Equal(30_000L, await store.PragmaAsync("busy_timeout"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(DataDirectory));
    }

    [Fact]
    public async Task A_database_from_a_newer_build_is_refused()
    {
        await using (var connection = new SqliteConnection($"Data Source={((SqliteVmStore)Store).DatabasePath};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'from the future', 0)";
            await command.ExecuteNonQueryAsync();
        }

        var e = await Assert.ThrowsAsync<VmStoreException>(() => OpenStoreAsync());
        Assert.Contains("version 999", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_schema_version_table_lists_each_migration_once()
    {
        await using (await OpenStoreAsync())
        {
        }

        await using var connection = new SqliteConnection($"Data Source={((SqliteVmStore)Store).DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM schema_version ORDER BY version";
        var versions = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt64(0));
        }

        Assert.Equal(Migrations.All.Select(m => (long)m.Version), versions);
    }
}
