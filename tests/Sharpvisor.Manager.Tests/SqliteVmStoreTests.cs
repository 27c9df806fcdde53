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

    [Fact]
    public async Task A_version_1_database_keeps_its_VMs_and_states_and_then_takes_failed()
    {
        // A data directory as the first release left it: schema 1, one VM crashed.
        var directory = Path.Combine(_directory, "v1");
        Directory.CreateDirectory(directory);
        var id = Guid.NewGuid();
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(directory, SqliteVmStore.FileName)};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = Migrations.SchemaVersionTable + ";\n"
                + Migrations.All[0].Sql.Replace("{uuid}", "TEXT", StringComparison.Ordinal).Replace("{autoid}", "INTEGER PRIMARY KEY AUTOINCREMENT", StringComparison.Ordinal)
                + $"""
                INSERT INTO schema_version VALUES (1, 'vms, vm_states, vm_events', 0);
                INSERT INTO vms VALUES ('{id:D}', 'old', 1, 64, NULL, 'idle', NULL, '', '[]', '[]', 'serial', 0, 0, 1);
                INSERT INTO vm_states VALUES ('{id:D}', 'crashed', 'exit status 1: it fell over', 0, 0, 0);
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var store = await SqliteVmStore.OpenAsync(directory);

        Assert.Equal(Migrations.Latest, await store.GetSchemaVersionAsync());
        var state = (await store.GetStateAsync(id))!;
        Assert.Equal((VmState.Crashed, "exit status 1: it fell over"), (state.State, state.ExitReason));
        Assert.Equal("old", (await store.GetAsync(id))!.Name);
        Assert.Equal(VmState.Failed, (await store.SetStateAsync(id, VmState.Failed, "no KVM")).State);
        // The foreign key still holds: deleting the VM takes its state with it.
        Assert.True(await store.DeleteAsync(id));
        Assert.Null(await store.GetStateAsync(id));
    }
}
