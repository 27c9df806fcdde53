using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Sharpvisor.Manager.Store.Sql;

namespace Sharpvisor.Manager.Store.Sqlite;

/// <summary>
/// The default store: one SQLite file in the data directory. WAL journal (readers never wait for the writer),
/// synchronous=FULL (a commit is fsynced before it returns: acknowledged means on disk), foreign keys on, and a
/// busy timeout so that a second process waits for the write lock instead of failing.
/// </summary>
public sealed class SqliteVmStore : SqlVmStore
{
    public const string FileName = "sharpvisor.db";

    private const int BusyTimeoutSeconds = 30;

    // Run on every connection: SQLite keeps these per connection (only journal_mode is kept in the file).
    // busy_timeout is BusyTimeoutSeconds in milliseconds.
    private const string ConnectionPragmas = """
        PRAGMA synchronous = FULL;
        PRAGMA foreign_keys = ON;
        PRAGMA busy_timeout = 30000;
        """;

    private readonly string _connectionString;

    private SqliteVmStore(string databasePath, TimeProvider? time)
        : base(new SqliteDialect(), time)
    {
        DatabasePath = databasePath;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
    }

    public string DatabasePath { get; }

    /// <summary>Opens (creating when needed) <see cref="FileName"/> in <paramref name="dataDirectory"/> and brings its schema up to date.</summary>
    public static async Task<SqliteVmStore> OpenAsync(string dataDirectory, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        if (!Directory.Exists(dataDirectory))
        {
            // The inventory names kernels, disks and TAPs: nobody else's business.
            Directory.CreateDirectory(dataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var store = new SqliteVmStore(Path.GetFullPath(Path.Combine(dataDirectory, FileName)), time);
        try
        {
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using (var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "PRAGMA journal_mode = WAL");
            var mode = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new VmStoreException($"{DatabasePath}: SQLite refused WAL mode (journal_mode is '{mode}')");
            }
        }

        await MigrateAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A PRAGMA's value on a store connection (for tests and diagnostics).</summary>
    internal async Task<object?> PragmaAsync(string name, CancellationToken cancellationToken = default)
    {
        if (!name.All(c => char.IsAsciiLetterLower(c) || c == '_'))
        {
            throw new ArgumentException($"'{name}' is not a pragma name", nameof(name));
        }

        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "PRAGMA " + name);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, null, ConnectionPragmas, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override ValueTask DisposeCoreAsync()
    {
        // Pooled connections keep the file (and its -wal and -shm) open; let go of them.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private sealed class SqliteDialect : SqlDialect
    {
        public override string UuidType => "TEXT";

        // AUTOINCREMENT: without it SQLite may reuse the id of a deleted last row, and "events after N" would miss it.
        public override string AutoIdPrimaryKey => "INTEGER PRIMARY KEY AUTOINCREMENT";

        public override string NameInByteOrder => "v.name";

        // Microsoft.Data.Sqlite binds a Guid as a 16-byte BLOB; ids are stored as their text, readable in the sqlite3 shell.
        public override (object Value, DbType Type) Id(Guid id) => (id.ToString("D"), DbType.String);

        public override bool IsUniqueViolation(DbException exception) =>
            exception is SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 }; // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY

        // BEGIN IMMEDIATE takes the file's write lock at once (waiting up to the busy timeout). A deferred transaction
        // would take it at its first write, after its reads, and could then fail with SQLITE_BUSY instead of waiting.
        public override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
            Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));
    }
}
