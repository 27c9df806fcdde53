using System.Diagnostics;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Store.Sql;

namespace Sharpvisor.Manager.Tests;

/// <summary>
/// Everything a store must do, written once and run against each database by a concrete subclass
/// (<see cref="SqliteVmStoreTests"/>, <see cref="PostgresVmStoreTests"/>), each on a fresh, real database.
/// </summary>
public abstract class VmStoreTests : IAsyncLifetime
{
    private SqlVmStore? _store;

    /// <summary>A clock with a sub-microsecond part, which the store must cut to what both databases keep.</summary>
    protected ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero).AddTicks(1_234_567));

    protected SqlVmStore Store => _store ?? throw new InvalidOperationException("not initialized");

    /// <summary>Opens a store on this test's database (again, when called twice).</summary>
    protected abstract Task<SqlVmStore> OpenStoreAsync(TimeProvider? time = null);

    /// <summary>Opens a store on another, new database of this test (same name: same database).</summary>
    protected abstract Task<SqlVmStore> OpenOtherDatabaseAsync(string name);

    /// <summary>The arguments after "durability-child" that make <see cref="Program"/> open this test's database.</summary>
    protected abstract string[] ChildArguments { get; }

    protected virtual Task CreateDatabaseAsync() => Task.CompletedTask;

    protected virtual Task DropDatabaseAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        _store = await OpenStoreAsync(Clock);
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        await DropDatabaseAsync();
    }

    internal static VmDefinition Sample(string name = "web-1") => new()
    {
        Name = name,
        Vcpus = 2,
        MemoryMiB = 512,
        Kernel = "/var/lib/sharpvisor/kernels/vmlinux",
        Initrd = "/var/lib/sharpvisor/initrd.img",
        Cmdline = "console=ttyS0 panic=-1 root=/dev/vda — ünïcödé",
        Disks = [new DiskDefinition("/var/lib/sharpvisor/disks/root.img"), new DiskDefinition("/srv/data.img", ReadOnly: true)],
        Nics = [new NicDefinition("tap0", "02:00:00:00:00:01"), new NicDefinition("tap1")],
        Console = VmConsoles.Virtio,
    };

    [StoreFact]
    public async Task Create_assigns_id_version_and_timestamps_and_reads_back_equal()
    {
        var created = await Store.CreateAsync(Sample());

        Assert.NotEqual(Guid.Empty, created.Id);
        Assert.Equal(1, created.Version);
        Assert.Equal(Clock.GetUtcNow().AddTicks(-7), created.CreatedAt); // cut to whole microseconds
        Assert.Equal(created.CreatedAt, created.UpdatedAt);
        Assert.Equal(Sample() with { Id = created.Id, CreatedAt = created.CreatedAt, UpdatedAt = created.UpdatedAt, Version = 1 }, created);
        Assert.Equal(created, await Store.GetAsync(created.Id));
        Assert.Equal(created, await Store.GetByNameAsync("web-1"));
    }

    [StoreFact]
    public async Task Create_keeps_an_id_the_caller_chose_and_a_built_in_guest()
    {
        var id = Guid.NewGuid();
        var created = await Store.CreateAsync(new VmDefinition { Id = id, Name = "test", BuiltInGuest = "smp", Cmdline = "cpus=4", Vcpus = 4 });

        Assert.Equal(id, created.Id);
        var read = await Store.GetAsync(id);
        Assert.NotNull(read);
        Assert.Equal("smp", read.BuiltInGuest);
        Assert.Null(read.Kernel);
        Assert.Null(read.Initrd);
        Assert.Empty(read.Disks);
        Assert.Empty(read.Nics);
        Assert.Equal(VmConsoles.Serial, read.Console);
    }

    [StoreFact]
    public async Task Get_of_unknown_id_or_name_is_null()
    {
        await Store.CreateAsync(Sample());
        Assert.Null(await Store.GetAsync(Guid.NewGuid()));
        Assert.Null(await Store.GetByNameAsync("web-2"));
        Assert.Null(await Store.GetStateAsync(Guid.NewGuid()));
    }

    [StoreFact]
    public async Task Create_rejects_an_invalid_definition_naming_every_field_and_stores_nothing()
    {
        var bad = Sample("9lives") with { MemoryMiB = 8, Vcpus = 0, Console = "vga", Nics = [new NicDefinition("much-too-long-name0")] };

        var e = await Assert.ThrowsAsync<VmValidationException>(() => Store.CreateAsync(bad));

        Assert.Equal(
            ["name", "vcpus", "memoryMiB", "nics[0].tap", "console"],
            e.Problems.Select(p => p.Field));
        Assert.Contains(e.Problems, p => p.ToString() == "memoryMiB: must be between 16 and 65536");
        Assert.Empty(await Store.ListAsync());
        Assert.Empty(await Store.ListEventsAsync(0));
    }

    [StoreFact]
    public async Task Create_with_a_taken_name_is_a_name_conflict()
    {
        var first = await Store.CreateAsync(Sample());

        var e = await Assert.ThrowsAsync<VmNameConflictException>(() => Store.CreateAsync(Sample() with { Vcpus = 8 }));

        Assert.Equal("web-1", e.Name);
        Assert.IsAssignableFrom<VmConflictException>(e);
        Assert.Equal(first, Assert.Single(await Store.ListAsync()).Definition);
    }

    [StoreFact]
    public async Task Create_with_a_taken_id_is_an_id_conflict()
    {
        var first = await Store.CreateAsync(Sample());

        await Assert.ThrowsAsync<VmIdConflictException>(() => Store.CreateAsync(Sample("web-2") with { Id = first.Id }));
        Assert.Null(await Store.GetByNameAsync("web-2"));
    }

    [StoreFact]
    public async Task Concurrent_creates_of_one_name_let_exactly_one_win()
    {
        var attempts = Enumerable.Range(0, 8).Select(i => Task.Run(() => Store.CreateAsync(Sample("race") with { Vcpus = i + 1 }))).ToArray();
        var outcomes = await Task.WhenAll(attempts.Select(async t =>
        {
            try
            {
                await t;
                return "created";
            }
            catch (VmNameConflictException)
            {
                return "conflict";
            }
        }));

        Assert.Single(outcomes, o => o == "created");
        Assert.Equal(7, outcomes.Count(o => o == "conflict"));
        Assert.Single(await Store.ListAsync());
    }

    [StoreFact]
    public async Task Update_with_the_read_version_bumps_version_and_updated_at()
    {
        var created = await Store.CreateAsync(Sample());
        Clock.Advance(TimeSpan.FromSeconds(5));

        var updated = await Store.UpdateAsync(created with { MemoryMiB = 1024, Nics = [], Name = "web-renamed" });

        Assert.Equal(2, updated.Version);
        Assert.Equal(created.CreatedAt, updated.CreatedAt);
        Assert.Equal(created.UpdatedAt + TimeSpan.FromSeconds(5), updated.UpdatedAt);
        Assert.Equal(updated, await Store.GetAsync(created.Id));
        Assert.Null(await Store.GetByNameAsync("web-1"));
        Assert.Equal(updated, await Store.GetByNameAsync("web-renamed"));
    }

    [StoreFact]
    public async Task A_display_reads_back_and_an_update_can_drop_it()
    {
        var created = await Store.CreateAsync(Sample() with { Display = new DisplayDefinition(2, 800, 600, "127.0.0.1:5901", "s3cret") });
        Assert.Equal(new DisplayDefinition(2, 800, 600, "127.0.0.1:5901", "s3cret"), (await Store.GetAsync(created.Id))!.Display);

        var updated = await Store.UpdateAsync(created with { Display = null });

        Assert.Null(updated.Display);
        Assert.Equal(updated, await Store.GetAsync(created.Id));
    }

    [StoreFact]
    public async Task Update_with_a_stale_version_is_a_version_conflict_and_changes_nothing()
    {
        var created = await Store.CreateAsync(Sample());
        var second = await Store.UpdateAsync(created with { Vcpus = 4 });

        var e = await Assert.ThrowsAsync<VmVersionConflictException>(() => Store.UpdateAsync(created with { Vcpus = 16 }));

        Assert.Equal((1L, 2L), (e.ExpectedVersion, e.ActualVersion));
        Assert.Equal(second, await Store.GetAsync(created.Id));
    }

    [StoreFact]
    public async Task Update_to_another_vms_name_is_a_name_conflict()
    {
        await Store.CreateAsync(Sample("a"));
        var b = await Store.CreateAsync(Sample("b"));

        await Assert.ThrowsAsync<VmNameConflictException>(() => Store.UpdateAsync(b with { Name = "a" }));
        Assert.Equal(b, await Store.GetAsync(b.Id));
    }

    [StoreFact]
    public async Task Update_of_an_unknown_vm_is_not_found_and_an_invalid_one_is_refused()
    {
        var created = await Store.CreateAsync(Sample());

        await Assert.ThrowsAsync<VmNotFoundException>(() => Store.UpdateAsync(Sample("ghost") with { Id = Guid.NewGuid(), Version = 1 }));
        var e = await Assert.ThrowsAsync<VmValidationException>(() => Store.UpdateAsync(created with { Kernel = null }));
        Assert.Equal("kernel", Assert.Single(e.Problems).Field);
        Assert.Equal(created, await Store.GetAsync(created.Id));
    }

    [StoreFact]
    public async Task Delete_removes_definition_and_state_and_keeps_the_history()
    {
        var created = await Store.CreateAsync(Sample());
        await Store.SetStateAsync(created.Id, VmState.Stopped, "guest powered off");

        Assert.True(await Store.DeleteAsync(created.Id));

        Assert.Null(await Store.GetAsync(created.Id));
        Assert.Null(await Store.GetStateAsync(created.Id)); // the foreign key's ON DELETE CASCADE
        Assert.Empty(await Store.ListAsync());
        Assert.Equal(
            [VmEventKinds.Defined, VmEventKinds.State, VmEventKinds.Deleted],
            (await Store.ListEventsAsync(0, vmId: created.Id)).Select(e => e.Kind));
        Assert.False(await Store.DeleteAsync(created.Id));

        var again = await Store.CreateAsync(Sample()); // the name is free again
        Assert.NotEqual(created.Id, again.Id);
    }

    [StoreFact]
    public async Task Delete_with_a_stale_version_is_a_version_conflict()
    {
        var created = await Store.CreateAsync(Sample());
        var updated = await Store.UpdateAsync(created with { Vcpus = 3 });

        await Assert.ThrowsAsync<VmVersionConflictException>(() => Store.DeleteAsync(created.Id, expectedVersion: 1));
        Assert.NotNull(await Store.GetAsync(created.Id));
        Assert.True(await Store.DeleteAsync(created.Id, expectedVersion: updated.Version));
    }

    [StoreFact]
    public async Task List_is_by_name_with_states_and_filters_by_state()
    {
        var c = await Store.CreateAsync(Sample("charlie"));
        var a = await Store.CreateAsync(Sample("alpha"));
        var b = await Store.CreateAsync(Sample("bravo"));
        await Store.SetStateAsync(a.Id, VmState.Running);
        await Store.SetStateAsync(c.Id, VmState.Running);

        var all = await Store.ListAsync();
        Assert.Equal(["alpha", "bravo", "charlie"], all.Select(e => e.Definition.Name));
        Assert.Equal([VmState.Running, VmState.Defined, VmState.Running], all.Select(e => e.State.State));
        Assert.Equal(b, all[1].Definition);

        Assert.Equal(["alpha", "charlie"], (await Store.ListAsync(VmState.Running)).Select(e => e.Definition.Name));
        Assert.Equal(["bravo"], (await Store.ListAsync(VmState.Defined)).Select(e => e.Definition.Name));
        Assert.Empty(await Store.ListAsync(VmState.Crashed));

        // Byte order in both databases, whatever PostgreSQL's locale (which may ignore the '-').
        await Store.CreateAsync(Sample("alpha-z"));
        await Store.CreateAsync(Sample("alphab"));
        Assert.Equal(["alpha", "alpha-z", "alphab", "bravo", "charlie"], (await Store.ListAsync()).Select(e => e.Definition.Name));
    }

    [StoreFact]
    public async Task States_record_their_timestamps_and_exit_reason()
    {
        var created = await Store.CreateAsync(Sample());
        var defined = await Store.GetStateAsync(created.Id);
        Assert.Equal(new VmRuntimeState(created.Id, VmState.Defined, null, created.CreatedAt, null, null), defined);

        Clock.Advance(TimeSpan.FromSeconds(1));
        var starting = await Store.SetStateAsync(created.Id, VmState.Starting);
        Clock.Advance(TimeSpan.FromSeconds(1));
        await Store.SetStateAsync(created.Id, VmState.Running);
        Clock.Advance(TimeSpan.FromSeconds(1));
        var crashed = await Store.SetStateAsync(created.Id, VmState.Crashed, "triple fault");

        Assert.Equal(starting.ChangedAt, starting.StartedAt);
        Assert.Null(starting.StoppedAt);
        Assert.Equal(VmState.Crashed, crashed.State);
        Assert.Equal("triple fault", crashed.ExitReason);
        Assert.Equal(starting.StartedAt, crashed.StartedAt);
        Assert.Equal(starting.ChangedAt + TimeSpan.FromSeconds(2), crashed.StoppedAt);
        Assert.Equal(crashed, await Store.GetStateAsync(created.Id));

        var events = await Store.ListEventsAsync(0, vmId: created.Id);
        Assert.Equal(["web-1", "starting", "running", "crashed: triple fault"], events.Select(e => e.Message));
        Assert.Equal(crashed.ChangedAt, events[^1].Time);

        var restarted = await Store.SetStateAsync(created.Id, VmState.Starting);
        Assert.Null(restarted.ExitReason);
        Assert.Equal(crashed.StoppedAt, restarted.StoppedAt); // the last stop stays known
    }

    [StoreFact]
    public async Task SetState_of_an_unknown_vm_is_not_found_and_writes_no_event()
    {
        await Assert.ThrowsAsync<VmNotFoundException>(() => Store.SetStateAsync(Guid.NewGuid(), VmState.Running));
        Assert.Empty(await Store.ListEventsAsync(0));
    }

    [StoreFact]
    public async Task Events_after_an_id_come_in_order_paged_and_per_vm()
    {
        var a = await Store.CreateAsync(Sample("a"));
        var b = await Store.CreateAsync(Sample("b"));
        for (var i = 0; i < 10; i++)
        {
            Clock.Advance(TimeSpan.FromMilliseconds(1));
            await Store.AppendEventAsync(i % 2 == 0 ? a.Id : b.Id, "console", $"line {i}");
        }

        var all = await Store.ListEventsAsync(0);
        Assert.Equal(12, all.Count);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Id < p.Second.Id && p.First.Time <= p.Second.Time));
        Assert.Equal(["a", "b", "line 0", "line 1"], all.Take(4).Select(e => e.Message));

        // Paging as the event stream does it: the last id seen is the next query's start.
        var paged = new List<VmEvent>();
        long last = 0;
        while (await Store.ListEventsAsync(last, limit: 5) is { Count: > 0 } page)
        {
            Assert.True(page.Count <= 5);
            paged.AddRange(page);
            last = page[^1].Id;
        }

        Assert.Equal(all, paged);
        Assert.Equal(all.Skip(5), await Store.ListEventsAsync(all[4].Id));
        Assert.Empty(await Store.ListEventsAsync(all[^1].Id));

        var onlyB = await Store.ListEventsAsync(0, vmId: b.Id);
        Assert.Equal(["b", "line 1", "line 3", "line 5", "line 7", "line 9"], onlyB.Select(e => e.Message));
        Assert.All(onlyB, e => Assert.Equal(b.Id, e.VmId));
    }

    [StoreFact]
    public async Task The_latest_events_come_oldest_first_and_per_vm()
    {
        Assert.Empty(await Store.ListLatestEventsAsync(10));
        var a = await Store.CreateAsync(Sample("a"));
        var b = await Store.CreateAsync(Sample("b"));
        for (var i = 0; i < 6; i++)
        {
            await Store.AppendEventAsync(i % 2 == 0 ? a.Id : b.Id, "console", $"line {i}");
        }

        var all = await Store.ListEventsAsync(0);
        Assert.Equal(all.TakeLast(3), await Store.ListLatestEventsAsync(3));
        Assert.Equal(all, await Store.ListLatestEventsAsync(100));
        Assert.Equal(all[^1], Assert.Single(await Store.ListLatestEventsAsync(1)));
        Assert.Equal(["line 3", "line 5"], (await Store.ListLatestEventsAsync(2, b.Id)).Select(e => e.Message));
    }

    [StoreFact]
    public async Task Concurrent_writers_get_distinct_increasing_event_ids()
    {
        var vm = await Store.CreateAsync(Sample());
        var appended = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => Store.AppendEventAsync(vm.Id, "console", $"{i}"))));

        var ids = appended.Select(e => e.Id).ToHashSet();
        Assert.Equal(40, ids.Count);
        Assert.Equal(appended.Select(e => e.Id).Order(), (await Store.ListEventsAsync(0)).Skip(1).Select(e => e.Id));
    }

    [StoreFact]
    public async Task Opening_again_applies_no_migration_twice_and_keeps_the_data()
    {
        var created = await Store.CreateAsync(Sample());
        Assert.Equal(Migrations.Latest, await Store.GetSchemaVersionAsync());

        await using (var second = await OpenStoreAsync())
        {
            Assert.Equal(Migrations.Latest, await second.GetSchemaVersionAsync());
            Assert.Equal(created, await second.GetAsync(created.Id));
        }

        await using var third = await OpenStoreAsync();
        Assert.Equal(created, await third.GetAsync(created.Id));
        Assert.Single(await third.ListAsync());
    }

    [StoreFact]
    public async Task Concurrent_opens_of_a_new_database_migrate_it_once()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => OpenOtherDatabaseAsync("fresh"))));
        try
        {
            foreach (var store in stores)
            {
                Assert.Equal(Migrations.Latest, await store.GetSchemaVersionAsync());
            }
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// "Nothing acknowledged is ever lost": another process creates definitions one after another, printing each id
    /// once CreateAsync has returned, and is killed with SIGKILL mid-stream. Every id it printed must be there.
    /// </summary>
    [StoreFact]
    public async Task Every_acknowledged_definition_survives_a_kill_9_of_the_writer()
    {
        const int WantAcknowledged = 25;
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(Program).Assembly.Location);
        info.ArgumentList.Add(Program.DurabilityChild);
        foreach (var arg in ChildArguments)
        {
            info.ArgumentList.Add(arg);
        }

        var acknowledged = new List<Guid>();
        using (var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the child"))
        {
            var stderr = child.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromMinutes(2)));
            try
            {
                while (acknowledged.Count < WantAcknowledged)
                {
                    var line = await child.StandardOutput.ReadLineAsync(deadline.Token)
                        ?? throw new InvalidOperationException($"the child ended early (exit {await ExitCode(child)}): {await stderr}");
                    if (line.StartsWith(Program.Acknowledged, StringComparison.Ordinal))
                    {
                        acknowledged.Add(Guid.Parse(line[Program.Acknowledged.Length..]));
                    }
                }
            }
            finally
            {
                child.Kill(); // SIGKILL on Linux: no handler, no flush, no dispose runs in the child
                await child.WaitForExitAsync(CancellationToken.None);
            }

            Assert.Equal(137, child.ExitCode); // 128 + SIGKILL, as the runtime reports a signal death
        }

        await Store.DisposeAsync();
        await using var reopened = await OpenStoreAsync();
        foreach (var id in acknowledged)
        {
            var definition = await reopened.GetAsync(id);
            Assert.NotNull(definition);
            Assert.Equal(VmState.Defined, (await reopened.GetStateAsync(id))?.State);
        }

        // The child went on writing while this test read its output, so more may be there than were read; one
        // writer creating in order leaves durable-0 ... durable-(n-1) with no gap, each whole (its event too).
        var listed = await reopened.ListAsync();
        Assert.True(listed.Count >= acknowledged.Count);
        Assert.Equal(
            Enumerable.Range(0, listed.Count).Select(i => $"durable-{i}").Order(StringComparer.Ordinal),
            listed.Select(e => e.Definition.Name)); // names order byte-wise in both databases
        Assert.Equal(listed.Count, (await reopened.ListEventsAsync(0, limit: 100_000)).Count(e => e.Kind == VmEventKinds.Defined));
    }

    private static async Task<string> ExitCode(Process process)
    {
        await process.WaitForExitAsync();
        return process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The dotnet host that runs these tests, to run this assembly's Main the same way.</summary>
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        return Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
    }
}
