using System.Data;
using System.Data.Common;

namespace Sharpvisor.Manager.Store.Sql;

/// <summary>
/// Everything SQLite and PostgreSQL disagree on, in one place; the schema and every query are otherwise shared.
/// Timestamps are BIGINT microseconds since the Unix epoch (UTC) in both, so no date type differs.
/// </summary>
internal abstract class SqlDialect
{
    /// <summary>The column type of ids, as the migrations' <c>{uuid}</c> placeholder.</summary>
    public abstract string UuidType { get; }

    /// <summary>An ever-growing integer primary key (never reused after a delete), the migrations' <c>{autoid}</c>.</summary>
    public abstract string AutoIdPrimaryKey { get; }

    /// <summary>
    /// The name column in byte order, which SQLite's TEXT has anyway; PostgreSQL would otherwise sort by the
    /// database's locale (where "a-c" may come after "ab").
    /// </summary>
    public abstract string NameInByteOrder { get; }

    /// <summary>An id as a parameter value with its type.</summary>
    public abstract (object Value, DbType Type) Id(Guid id);

    public abstract bool IsUniqueViolation(DbException exception);

    /// <summary>
    /// Begins a write transaction that holds the write lock from its start: writers take turns, so a check made
    /// inside the transaction still holds at its commit, and event ids become visible in increasing order.
    /// </summary>
    public abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);
}
