using Sharpvisor.Manager.Store.Postgres;
using Sharpvisor.Manager.Store.Sqlite;

namespace Sharpvisor.Manager.Store;

/// <summary>Chooses the store: PostgreSQL when given a connection string, else SQLite in the data directory.</summary>
public static class VmStores
{
    public static async Task<IVmStore> OpenAsync(
        string dataDirectory, string? postgresConnectionString = null, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        string.IsNullOrEmpty(postgresConnectionString)
            ? await SqliteVmStore.OpenAsync(dataDirectory, time, cancellationToken).ConfigureAwait(false)
            : await PostgresVmStore.OpenAsync(postgresConnectionString, time, cancellationToken).ConfigureAwait(false);
}
