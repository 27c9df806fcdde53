using System.Data;
using System.Data.Common;
using Npgsql;
using Sharpvisor.Manager.Store.Sql;

namespace Sharpvisor.Manager.Store.Postgres;

/// <summary>
/// The store on a PostgreSQL server, for when the manager is given a connection string: the same schema and queries
/// as SQLite (<see cref="SqlVmStore"/>). The tables go into the first schema of the connection's search_path.
/// </summary>
public sealed class PostgresVmStore : SqlVmStore
{
    private readonly NpgsqlDataSource _dataSource;

    private PostgresVmStore(NpgsqlDataSource dataSource, TimeProvider? time)
        : base(new PostgresDialect(), time)
    {
        _dataSource = dataSource;
    }

    /// <summary>Connects with <paramref name="connectionString"/> (Npgsql's keywords) and brings the schema up to date.</summary>
    public static async Task<PostgresVmStore> OpenAsync(string connectionString, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        // The slim builder has the plain types this store uses and nothing that needs reflection (NativeAOT-safe).
        var store = new PostgresVmStore(new NpgsqlSlimDataSourceBuilder(connectionString).Build(), time);
        try
        {
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    private protected override ValueTask DisposeCoreAsync() => _dataSource.DisposeAsync();

    private sealed class PostgresDialect : SqlDialect
    {
        /// <summary>The key of the advisory lock that writers take turns on ("SHPV").</summary>
        private const long WriteLockKey = 0x5348_5056;

        public override string UuidType => "uuid";

        public override string AutoIdPrimaryKey => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

        public override string NameInByteOrder => "v.name COLLATE \"C\"";

        public override (object Value, DbType Type) Id(Guid id) => (id, DbType.Guid);

        public override bool IsUniqueViolation(DbException exception) =>
            exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

        // Sequence values are handed out at insert but become visible at commit, so two concurrent writers could
        // show event 11 before event 10, and a reader polling "after 11" would never see 10. A transaction-scoped
        // advisory lock makes writers commit one at a time, as SQLite's single writer does; it also keeps the
        // checks a write makes (name taken? version?) true until its commit under READ COMMITTED.
        public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using var command = Command(connection, transaction, "SELECT pg_advisory_xact_lock(@key)");
                Add(command, "@key", WriteLockKey, DbType.Int64);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                return transaction;
            }
            catch
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }
}
