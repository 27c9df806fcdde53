using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Manager.Store.Sql;

/// <summary>
/// The store over ADO.NET, shared by SQLite and PostgreSQL: the same schema (<see cref="Migrations"/>), the same
/// queries; <see cref="SqlDialect"/> holds the few differences. Every write is one transaction that starts by taking
/// the write lock (<see cref="SqlDialect.BeginWriteAsync"/>), checks what it must, changes the rows and appends its
/// event; it returns only after the commit, which both databases make durable before they answer.
/// </summary>
/// <remarks>
/// Disks and NICs are JSON arrays in a TEXT column: they are only ever read and written with their VM, and a new
/// field in them then needs no migration. Events have no foreign key to their VM, so a VM's history outlives it.
/// </remarks>
public abstract class SqlVmStore : IVmStore
{
    private const string DefinitionColumns =
        "v.id, v.name, v.vcpus, v.memory_mib, v.kernel, v.built_in_guest, v.initrd, v.cmdline, v.disks, v.nics, v.console, "
        + "v.created_at, v.updated_at, v.version, v.display, v.template";

    private const int DefinitionColumnCount = 16;

    private const string StateColumns = "s.vm_id, s.state, s.exit_reason, s.changed_at, s.started_at, s.stopped_at";

    private readonly TimeProvider _time;

    private protected SqlVmStore(SqlDialect dialect, TimeProvider? time)
    {
        Dialect = dialect;
        _time = time ?? TimeProvider.System;
    }

    private protected SqlDialect Dialect { get; }

    /// <summary>An open connection with the per-connection settings applied; the caller disposes it.</summary>
    private protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    private protected abstract ValueTask DisposeCoreAsync();

    public async ValueTask DisposeAsync()
    {
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>The highest migration applied to the database.</summary>
    public async Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT MAX(version) FROM schema_version");
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    /// <summary>Applies the migrations the database lacks, all in one transaction; a no-op on an up-to-date database.</summary>
    private protected Task MigrateAsync(CancellationToken cancellationToken) => WriteAsync(async (connection, transaction) =>
    {
        await ExecuteAsync(connection, transaction, Migrations.SchemaVersionTable, cancellationToken).ConfigureAwait(false);
        int current;
        await using (var command = Command(connection, transaction, "SELECT MAX(version) FROM schema_version"))
        {
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            current = value is null or DBNull ? 0 : Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }

        if (current > Migrations.Latest)
        {
            throw new VmStoreException(
                $"the database's schema is at version {current}, newer than this build's {Migrations.Latest}: use a newer sharpvisor");
        }

        foreach (var migration in Migrations.All.Where(m => m.Version > current))
        {
            await ExecuteAsync(connection, transaction, Migrations.Render(migration, Dialect), cancellationToken).ConfigureAwait(false);
            await using var record = Command(connection, transaction, "INSERT INTO schema_version (version, name, applied_at) VALUES (@version, @name, @at)");
            Add(record, "@version", migration.Version, DbType.Int32);
            Add(record, "@name", migration.Name, DbType.String);
            Add(record, "@at", ToMicroseconds(Now()), DbType.Int64);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return current;
    }, cancellationToken);

    public async Task<IReadOnlyList<VmEntry>> ListAsync(VmState? state = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var sql = $"SELECT {DefinitionColumns}, {StateColumns} FROM vms v JOIN vm_states s ON s.vm_id = v.id"
            + (state is null ? "" : " WHERE s.state = @state")
            + $" ORDER BY {Dialect.NameInByteOrder}";
        await using var command = Command(connection, null, sql);
        if (state is { } wanted)
        {
            Add(command, "@state", wanted.ToName(), DbType.String);
        }

        var entries = new List<VmEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new VmEntry(ReadDefinition(reader), ReadState(reader, DefinitionColumnCount)));
        }

        return entries;
    }

    public async Task<VmDefinition?> GetAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await GetAsync(connection, null, id, cancellationToken).ConfigureAwait(false);
    }

    public async Task<VmDefinition?> GetByNameAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {DefinitionColumns} FROM vms v WHERE v.name = @name");
        Add(command, "@name", name, DbType.String);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadDefinition(reader) : null;
    }

    public async Task<VmDefinition> CreateAsync(VmDefinition definition, CancellationToken cancellationToken = default)
    {
        ThrowIfInvalid(definition);
        var now = Now();
        var stored = definition with
        {
            Id = definition.Id == Guid.Empty ? Guid.CreateVersion7(now) : definition.Id,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };

        try
        {
            return await WriteAsync(async (connection, transaction) =>
            {
                await using (var check = Command(connection, transaction, "SELECT name FROM vms WHERE name = @name OR id = @id"))
                {
                    Add(check, "@name", stored.Name, DbType.String);
                    AddId(check, "@id", stored.Id);
                    var taken = new List<string>();
                    await using (var reader = await check.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                    {
                        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        {
                            taken.Add(reader.GetString(0));
                        }
                    }

                    if (taken.Contains(stored.Name))
                    {
                        throw new VmNameConflictException(stored.Name);
                    }

                    if (taken.Count > 0)
                    {
                        throw new VmIdConflictException(stored.Id);
                    }
                }

                await using (var insert = Command(connection, transaction, """
                    INSERT INTO vms (id, name, vcpus, memory_mib, kernel, built_in_guest, initrd, cmdline, disks, nics, console, created_at, updated_at, version, display, template)
                    VALUES (@id, @name, @vcpus, @memory_mib, @kernel, @built_in_guest, @initrd, @cmdline, @disks, @nics, @console, @created_at, @updated_at, @version, @display, @template)
                    """))
                {
                    AddDefinition(insert, stored);
                    Add(insert, "@created_at", ToMicroseconds(stored.CreatedAt), DbType.Int64);
                    await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await using (var state = Command(connection, transaction, """
                    INSERT INTO vm_states (vm_id, state, exit_reason, changed_at, started_at, stopped_at)
                    VALUES (@id, @state, NULL, @now, NULL, NULL)
                    """))
                {
                    AddId(state, "@id", stored.Id);
                    Add(state, "@state", VmState.Defined.ToName(), DbType.String);
                    Add(state, "@now", ToMicroseconds(now), DbType.Int64);
                    await state.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await InsertEventAsync(connection, transaction, stored.Id, VmEventKinds.Defined, stored.Name, now, cancellationToken).ConfigureAwait(false);
                return stored;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            // The check above runs under the write lock, so this is only a backstop.
            throw new VmNameConflictException(stored.Name, e);
        }
    }

    public async Task<VmDefinition> UpdateAsync(VmDefinition definition, CancellationToken cancellationToken = default)
    {
        ThrowIfInvalid(definition);
        var now = Now();
        try
        {
            return await WriteAsync(async (connection, transaction) =>
            {
                var current = await GetAsync(connection, transaction, definition.Id, cancellationToken).ConfigureAwait(false)
                    ?? throw new VmNotFoundException(definition.Id);
                if (current.Version != definition.Version)
                {
                    throw new VmVersionConflictException(definition.Id, definition.Version, current.Version);
                }

                await using (var check = Command(connection, transaction, "SELECT 1 FROM vms WHERE name = @name AND id <> @id"))
                {
                    Add(check, "@name", definition.Name, DbType.String);
                    AddId(check, "@id", definition.Id);
                    if (await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not (null or DBNull))
                    {
                        throw new VmNameConflictException(definition.Name);
                    }
                }

                var stored = definition with { CreatedAt = current.CreatedAt, UpdatedAt = now, Version = current.Version + 1 };
                await using (var update = Command(connection, transaction, """
                    UPDATE vms SET name = @name, vcpus = @vcpus, memory_mib = @memory_mib, kernel = @kernel,
                        built_in_guest = @built_in_guest, initrd = @initrd, cmdline = @cmdline, disks = @disks, nics = @nics,
                        console = @console, updated_at = @updated_at, version = @version, display = @display, template = @template
                    WHERE id = @id AND version = @expected_version
                    """))
                {
                    AddDefinition(update, stored);
                    Add(update, "@expected_version", current.Version, DbType.Int64);
                    if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                    {
                        throw new VmStoreException($"VM {definition.Id} changed under the write lock"); // cannot happen
                    }
                }

                await InsertEventAsync(connection, transaction, stored.Id, VmEventKinds.Updated,
                    string.Create(CultureInfo.InvariantCulture, $"{stored.Name} version {stored.Version}"), now, cancellationToken).ConfigureAwait(false);
                return stored;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsUniqueViolation(e))
        {
            throw new VmNameConflictException(definition.Name, e);
        }
    }

    public Task<bool> DeleteAsync(Guid id, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        WriteAsync(async (connection, transaction) =>
        {
            if (await GetAsync(connection, transaction, id, cancellationToken).ConfigureAwait(false) is not { } current)
            {
                return false;
            }

            if (expectedVersion is { } expected && expected != current.Version)
            {
                throw new VmVersionConflictException(id, expected, current.Version);
            }

            // vm_states goes with it (ON DELETE CASCADE); the events stay.
            await using (var delete = Command(connection, transaction, "DELETE FROM vms WHERE id = @id"))
            {
                AddId(delete, "@id", id);
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await InsertEventAsync(connection, transaction, id, VmEventKinds.Deleted, current.Name, Now(), cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public async Task<VmRuntimeState?> GetStateAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await GetStateAsync(connection, null, id, cancellationToken).ConfigureAwait(false);
    }

    public Task<VmRuntimeState> SetStateAsync(Guid id, VmState state, string? exitReason = null, CancellationToken cancellationToken = default)
    {
        var name = state.ToName(); // throws for a value outside the enum before anything is written
        var now = Now();
        return WriteAsync(async (connection, transaction) =>
        {
            await using (var update = Command(connection, transaction, """
                UPDATE vm_states SET state = @state, exit_reason = @exit_reason, changed_at = @now,
                    started_at = COALESCE(@started_at, started_at), stopped_at = COALESCE(@stopped_at, stopped_at)
                WHERE vm_id = @id
                """))
            {
                AddId(update, "@id", id);
                Add(update, "@state", name, DbType.String);
                Add(update, "@exit_reason", exitReason, DbType.String);
                Add(update, "@now", ToMicroseconds(now), DbType.Int64);
                Add(update, "@started_at", state == VmState.Starting ? ToMicroseconds(now) : null, DbType.Int64);
                Add(update, "@stopped_at", state is VmState.Stopped or VmState.Crashed or VmState.Failed ? ToMicroseconds(now) : null, DbType.Int64);
                if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                {
                    throw new VmNotFoundException(id);
                }
            }

            await InsertEventAsync(connection, transaction, id, VmEventKinds.State,
                exitReason is null ? name : $"{name}: {exitReason}", now, cancellationToken).ConfigureAwait(false);
            return await GetStateAsync(connection, transaction, id, cancellationToken).ConfigureAwait(false)
                ?? throw new VmNotFoundException(id);
        }, cancellationToken);
    }

    public Task<VmEvent> AppendEventAsync(Guid vmId, string kind, string message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(message);
        var now = Now();
        return WriteAsync(
            (connection, transaction) => InsertEventAsync(connection, transaction, vmId, kind, message, now, cancellationToken),
            cancellationToken);
    }

    public async Task<IReadOnlyList<VmEvent>> ListEventsAsync(long afterId, int limit = 1000, Guid? vmId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var sql = "SELECT id, vm_id, occurred_at, kind, message FROM vm_events WHERE id > @after"
            + (vmId is null ? "" : " AND vm_id = @vm_id")
            + " ORDER BY id LIMIT @limit";
        await using var command = Command(connection, null, sql);
        Add(command, "@after", afterId, DbType.Int64);
        Add(command, "@limit", limit, DbType.Int32);
        if (vmId is { } wanted)
        {
            AddId(command, "@vm_id", wanted);
        }

        return await ReadEventsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<VmEvent>> ListLatestEventsAsync(int limit, Guid? vmId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var sql = "SELECT id, vm_id, occurred_at, kind, message FROM vm_events"
            + (vmId is null ? "" : " WHERE vm_id = @vm_id")
            + " ORDER BY id DESC LIMIT @limit";
        await using var command = Command(connection, null, sql);
        Add(command, "@limit", limit, DbType.Int32);
        if (vmId is { } wanted)
        {
            AddId(command, "@vm_id", wanted);
        }

        var events = await ReadEventsAsync(command, cancellationToken).ConfigureAwait(false);
        events.Reverse();
        return events;
    }

    private static async Task<List<VmEvent>> ReadEventsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var events = new List<VmEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            events.Add(new VmEvent(reader.GetInt64(0), reader.GetGuid(1), FromMicroseconds(reader.GetInt64(2)), reader.GetString(3), reader.GetString(4)));
        }

        return events;
    }

    /// <summary>One write transaction: lock, work, commit. Nothing is returned before the commit has succeeded.</summary>
    private protected async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await Dialect.BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
        var result = await work(connection, transaction).ConfigureAwait(false);
        // Not cancellable: once the commit is under way, the caller must learn whether it happened.
        await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return result;
    }

    private protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    private protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private protected static void Add(DbCommand command, string name, object? value, DbType type)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    private void AddId(DbCommand command, string name, Guid id)
    {
        var (value, type) = Dialect.Id(id);
        Add(command, name, value, type);
    }

    private void AddDefinition(DbCommand command, VmDefinition definition)
    {
        AddId(command, "@id", definition.Id);
        Add(command, "@name", definition.Name, DbType.String);
        Add(command, "@vcpus", definition.Vcpus, DbType.Int32);
        Add(command, "@memory_mib", definition.MemoryMiB, DbType.Int32);
        Add(command, "@kernel", definition.Kernel, DbType.String);
        Add(command, "@built_in_guest", definition.BuiltInGuest, DbType.String);
        Add(command, "@initrd", definition.Initrd, DbType.String);
        Add(command, "@cmdline", definition.Cmdline, DbType.String);
        Add(command, "@disks", JsonSerializer.Serialize(definition.Disks.ToArray(), StoreJson.Default.DiskDefinitionArray), DbType.String);
        Add(command, "@nics", JsonSerializer.Serialize(definition.Nics.ToArray(), StoreJson.Default.NicDefinitionArray), DbType.String);
        Add(command, "@console", definition.Console, DbType.String);
        Add(command, "@display", definition.Display is null ? null : JsonSerializer.Serialize(definition.Display, StoreJson.Default.DisplayDefinition), DbType.String);
        Add(command, "@updated_at", ToMicroseconds(definition.UpdatedAt), DbType.Int64);
        Add(command, "@version", definition.Version, DbType.Int64);
        Add(command, "@template", definition.IsTemplate ? 1 : 0, DbType.Int32);
    }

    private async Task<VmDefinition?> GetAsync(DbConnection connection, DbTransaction? transaction, Guid id, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, $"SELECT {DefinitionColumns} FROM vms v WHERE v.id = @id");
        AddId(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadDefinition(reader) : null;
    }

    private async Task<VmRuntimeState?> GetStateAsync(DbConnection connection, DbTransaction? transaction, Guid id, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, $"SELECT {StateColumns} FROM vm_states s WHERE s.vm_id = @id");
        AddId(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadState(reader, 0) : null;
    }

    private async Task<VmEvent> InsertEventAsync(
        DbConnection connection, DbTransaction transaction, Guid vmId, string kind, string message, DateTimeOffset time, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction,
            "INSERT INTO vm_events (vm_id, occurred_at, kind, message) VALUES (@vm_id, @at, @kind, @message) RETURNING id");
        AddId(command, "@vm_id", vmId);
        Add(command, "@at", ToMicroseconds(time), DbType.Int64);
        Add(command, "@kind", kind, DbType.String);
        Add(command, "@message", message, DbType.String);
        var id = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        return new VmEvent(id, vmId, time, kind, message);
    }

    private static VmDefinition ReadDefinition(DbDataReader reader) => new()
    {
        Id = reader.GetGuid(0),
        Name = reader.GetString(1),
        Vcpus = reader.GetInt32(2),
        MemoryMiB = reader.GetInt32(3),
        Kernel = reader.IsDBNull(4) ? null : reader.GetString(4),
        BuiltInGuest = reader.IsDBNull(5) ? null : reader.GetString(5),
        Initrd = reader.IsDBNull(6) ? null : reader.GetString(6),
        Cmdline = reader.GetString(7),
        Disks = JsonSerializer.Deserialize(reader.GetString(8), StoreJson.Default.DiskDefinitionArray) ?? [],
        Nics = JsonSerializer.Deserialize(reader.GetString(9), StoreJson.Default.NicDefinitionArray) ?? [],
        Console = reader.GetString(10),
        CreatedAt = FromMicroseconds(reader.GetInt64(11)),
        UpdatedAt = FromMicroseconds(reader.GetInt64(12)),
        Version = reader.GetInt64(13),
        Display = reader.IsDBNull(14) ? null : JsonSerializer.Deserialize(reader.GetString(14), StoreJson.Default.DisplayDefinition),
        IsTemplate = Convert.ToInt64(reader.GetValue(15), CultureInfo.InvariantCulture) != 0,
    };

    private static VmRuntimeState ReadState(DbDataReader reader, int first) => new(
        reader.GetGuid(first),
        VmStateNames.Parse(reader.GetString(first + 1)),
        reader.IsDBNull(first + 2) ? null : reader.GetString(first + 2),
        FromMicroseconds(reader.GetInt64(first + 3)),
        reader.IsDBNull(first + 4) ? null : FromMicroseconds(reader.GetInt64(first + 4)),
        reader.IsDBNull(first + 5) ? null : FromMicroseconds(reader.GetInt64(first + 5)));

    private static void ThrowIfInvalid(VmDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Validate() is { Count: > 0 } problems)
        {
            throw new VmValidationException(problems);
        }
    }

    /// <summary>The clock, cut to the microseconds that both databases keep, so what is returned is what is read back.</summary>
    private DateTimeOffset Now()
    {
        var ticks = _time.GetUtcNow().UtcTicks;
        return new DateTimeOffset(ticks - (ticks % 10), TimeSpan.Zero);
    }

    internal static long ToMicroseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / 10;

    internal static DateTimeOffset FromMicroseconds(long microseconds) => new(DateTimeOffset.UnixEpoch.Ticks + (microseconds * 10), TimeSpan.Zero);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DiskDefinition[]))]
[JsonSerializable(typeof(NicDefinition[]))]
[JsonSerializable(typeof(DisplayDefinition))]
internal sealed partial class StoreJson : JsonSerializerContext;
