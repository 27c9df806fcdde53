namespace Sharpvisor.Manager.Store.Sql;

/// <summary>One schema change. <see cref="Sql"/> is shared by both databases; see <see cref="Migrations.Render"/>.</summary>
internal sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// The schema's history, oldest first. A database records what it has in schema_version; opening a store applies
/// the rest in one transaction. Never edit a migration that has shipped: add the next one.
/// </summary>
internal static class Migrations
{
    public const string SchemaVersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )
        """;

    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "vms, vm_states, vm_events", """
            CREATE TABLE vms (
                id {uuid} PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                vcpus INTEGER NOT NULL,
                memory_mib INTEGER NOT NULL,
                kernel TEXT,
                built_in_guest TEXT,
                initrd TEXT,
                cmdline TEXT NOT NULL,
                disks TEXT NOT NULL,
                nics TEXT NOT NULL,
                console TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                version BIGINT NOT NULL
            );
            CREATE TABLE vm_states (
                vm_id {uuid} PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
                state TEXT NOT NULL CHECK (state IN ('defined', 'starting', 'running', 'paused', 'stopping', 'stopped', 'crashed')),
                exit_reason TEXT,
                changed_at BIGINT NOT NULL,
                started_at BIGINT,
                stopped_at BIGINT
            );
            CREATE INDEX vm_states_state ON vm_states (state);
            CREATE TABLE vm_events (
                id {autoid},
                vm_id {uuid} NOT NULL,
                occurred_at BIGINT NOT NULL,
                kind TEXT NOT NULL,
                message TEXT NOT NULL
            );
            CREATE INDEX vm_events_vm ON vm_events (vm_id, id);
            """),

        // 'failed': a VM whose VMM exited before it ever ran (no KVM, a missing file) is not 'crashed'. Neither
        // database alters a CHECK in place the same way, so the table is copied into one with the new list.
        new(2, "vm_states: failed", """
            CREATE TABLE vm_states_v2 (
                vm_id {uuid} PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
                state TEXT NOT NULL CHECK (state IN ('defined', 'starting', 'running', 'paused', 'stopping', 'stopped', 'crashed', 'failed')),
                exit_reason TEXT,
                changed_at BIGINT NOT NULL,
                started_at BIGINT,
                stopped_at BIGINT
            );
            INSERT INTO vm_states_v2 (vm_id, state, exit_reason, changed_at, started_at, stopped_at)
                SELECT vm_id, state, exit_reason, changed_at, started_at, stopped_at FROM vm_states;
            DROP TABLE vm_states;
            ALTER TABLE vm_states_v2 RENAME TO vm_states;
            CREATE INDEX vm_states_state ON vm_states (state);
            """),

        // A VM's screen: JSON like disks and nics, NULL for none.
        new(3, "vms: display", """
            ALTER TABLE vms ADD COLUMN display TEXT;
            """),

        // A template: a VM kept to make thin clones of, never run (1) or an ordinary VM (0).
        new(4, "vms: template", """
            ALTER TABLE vms ADD COLUMN template INTEGER NOT NULL DEFAULT 0;
            """),
    ];

    public static int Latest => All[^1].Version;

    /// <summary>The SQL of <paramref name="migration"/> for one database: the only differences are the id column types.</summary>
    public static string Render(Migration migration, SqlDialect dialect) =>
        migration.Sql.Replace("{uuid}", dialect.UuidType, StringComparison.Ordinal)
            .Replace("{autoid}", dialect.AutoIdPrimaryKey, StringComparison.Ordinal);
}
