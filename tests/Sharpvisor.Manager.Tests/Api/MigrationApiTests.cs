using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// Live migration between two managers on one machine, each with its own data and run directories, with real
/// (confined, when the tests run as root) VMMs: POST /api/v1/vms/{vm}/migrate at one, the stream over the other's
/// /incoming WebSocket. The test guest's serial-echo counts the bytes it echoes, so a guest that goes on counting at
/// the destination is the same guest; a disk image on the shared storage is written by one VMM at a time.
/// </summary>
public sealed class MigrationApiTests : IAsyncLifetime
{
    private TestDaemon? _source;
    private TestDaemon? _destination;

    private TestDaemon Source => _source ?? throw new InvalidOperationException("not initialized");

    private TestDaemon Destination => _destination ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync()
    {
        _source = await TestDaemon.StartAsync(null);
        _destination = await TestDaemon.StartAsync(null);
    }

    public async Task DisposeAsync()
    {
        if (_source is not null)
        {
            await _source.DisposeAsync();
        }

        if (_destination is not null)
        {
            await _destination.DisposeAsync();
        }
    }

    private async Task<HttpResponseMessage> MigrateAsync(string vm, MigrateSpec spec) =>
        await Source.Http.PostAsJsonAsync($"api/v1/vms/{vm}/migrate", spec, ApiJsonContext.Default.MigrateSpec);

    private MigrateSpec ToDestination => new() { To = Destination.Daemon.Url.ToString(), Token = Destination.Daemon.Token.Value };

    [KvmFact]
    public async Task A_running_VM_moves_to_the_other_manager_goes_on_there_and_is_no_longer_the_sources()
    {
        var disk = Path.Combine(Source.Directory, "shared.img");
        await using (var image = File.Create(disk))
        {
            image.SetLength(1 << 20);
        }

        using (var created = await Source.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "mover", BuiltInGuest = "serial-echo", MemoryMiB = 64, Disks = [new DiskSpec(disk)] }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await Source.ActOkAsync("mover", "start");
        using (var console = await ConsoleApiTests.ConnectAsync(Source, "mover"))
        {
            var seen = new StringBuilder();
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "serial-echo: ready");
            await console.SendAsync("abc"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "ready\nabc");
        }

        using (var migrated = await MigrateAsync("mover", ToDestination))
        {
            var body = await migrated.Content.ReadAsStringAsync();
            Assert.True(migrated.StatusCode == HttpStatusCode.OK, body);
            var result = System.Text.Json.JsonSerializer.Deserialize(body, ApiJsonContext.Default.MigrationResource)!;
            Assert.Equal("mover", result.Vm);
            Assert.True(result.Rounds >= 1 && result.BytesSent > 0, body);
        }

        using (var gone = await Source.Http.GetAsync("api/v1/vms/mover"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        var moved = await Destination.GetAsync("mover");
        Assert.Equal("running", moved.State);
        Assert.Equal(disk, Assert.Single(moved.Disks).Path);
        // The destination's VMM holds the disk now: a third writer is refused.
        Assert.Throws<IOException>(() => File.OpenHandle(disk, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());

        using (var console = await ConsoleApiTests.ConnectAsync(Destination, "mover"))
        {
            var seen = new StringBuilder();
            await console.SendAsync("xyz\u0004"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
            // 3 bytes echoed at the source, 3 here: the count came over with the guest's memory and registers.
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "serial-echo: 6 bytes");
        }
    }

    [KvmFact]
    public async Task A_guest_writing_every_page_on_4_vCPUs_moves_to_the_other_manager_and_finds_every_page_as_it_left_it()
    {
        // Each vCPU sweeps its slice of 16 MiB, checking before every write that the page holds the last sweep's
        // number: a page the migration lost or sent stale stops the guest with "a page lost its generation".
        using (var created = await Source.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "sweeper", BuiltInGuest = "generation", Cmdline = "mib=16 every=8 cpus=4", Vcpus = 4, MemoryMiB = 512 },
            ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await Source.ActOkAsync("sweeper", "start");
        long lastAtSource;
        using (var console = await ConsoleApiTests.ConnectAsync(Source, "sweeper"))
        {
            var seen = new StringBuilder();
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, text => Generations(text).Any(g => g >= 16), "generation 16", TimeSpan.FromSeconds(90));
            lastAtSource = Generations(seen.ToString()).Max();
        }

        using (var migrated = await MigrateAsync("sweeper", ToDestination))
        {
            Assert.True(migrated.StatusCode == HttpStatusCode.OK, await migrated.Content.ReadAsStringAsync());
        }

        // Three more reports at the destination than the source had printed when the console let go, at least: every
        // page was checked three times over there, from the numbers it had at the switch.
        using (var console = await ConsoleApiTests.ConnectAsync(Destination, "sweeper"))
        {
            var seen = new StringBuilder();
            var wanted = lastAtSource + (3 * 8);
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, text => Generations(text).Any(g => g >= wanted), $"generation {wanted}", TimeSpan.FromSeconds(90));
            Assert.DoesNotContain("holds", seen.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal("running", (await Destination.GetAsync("sweeper")).State);
    }

    /// <summary>The sweeps the generation guest reported ("generation: N" lines) in <paramref name="console"/>.</summary>
    internal static IEnumerable<long> Generations(string console) =>
        console.Split('\n').Where(line => line.StartsWith("generation: ", StringComparison.Ordinal))
            .Select(line => long.TryParse(line["generation: ".Length..].Trim(), out var g) ? g : 0);

    [KvmFact]
    public async Task A_long_migration_shows_how_far_it_is_in_the_VMs_events()
    {
        // 4 MiB the guest wrote once and then leaves alone, over a link of 1 MB/s: round 1 takes seconds.
        using (var created = await Source.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "slow", BuiltInGuest = "generation", Cmdline = "mib=4 period_ms=1000000", MemoryMiB = 64 }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var id = (await Source.ActOkAsync("slow", "start")).Id;
        using (var migrated = await MigrateAsync("slow", ToDestination with { MaxBandwidth = 1_000_000 }))
        {
            Assert.True(migrated.StatusCode == HttpStatusCode.OK, await migrated.Content.ReadAsStringAsync());
        }

        var events = (await Source.Daemon.Store.ListLatestEventsAsync(100, id)).Select(e => e.Message).ToList();
        var log = string.Join("\n", events);
        Assert.Contains(events, m => m.StartsWith("migration round 1: ", StringComparison.Ordinal) && !m.StartsWith("migration round 1: 0 MiB sent", StringComparison.Ordinal));
        Assert.Contains(events, m => m.StartsWith("migrated out in ", StringComparison.Ordinal));
        Assert.True(events.Count(m => m.StartsWith("migration round 1: ", StringComparison.Ordinal)) >= 2, log);
        Assert.Equal("running", (await Destination.GetAsync("slow")).State);
    }

    [KvmFact]
    public async Task A_cancelled_migration_answers_409_and_the_VM_runs_on_at_the_source_with_nothing_left_there()
    {
        // As the long migration above: round 1 takes seconds at 1 MB/s, time enough to cancel it.
        using (var created = await Source.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "changed-mind", BuiltInGuest = "generation", Cmdline = "mib=4 period_ms=1000000", MemoryMiB = 64 }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var idle = await Source.Http.PostAsync("api/v1/vms/changed-mind/migrate/cancel", null))
        {
            Assert.Equal(HttpStatusCode.Conflict, idle.StatusCode); // defined, not even running
        }

        await Source.ActOkAsync("changed-mind", "start");
        var migrating = MigrateAsync("changed-mind", ToDestination with { MaxBandwidth = 1_000_000 });

        // Refused (409, not migrating) until the migrate has reached the VMM; then it is cancelled.
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(30));
        var refusals = new List<string>();
        while (true)
        {
            using var cancel = await Source.Http.PostAsync("api/v1/vms/changed-mind/migrate/cancel", null);
            if (cancel.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            refusals.Add(await cancel.Content.ReadAsStringAsync());
            Assert.True(cancel.StatusCode == HttpStatusCode.Conflict, string.Join("\n", refusals));
            if (migrating.IsCompleted)
            {
                Assert.Fail($"the migration ended before it could be cancelled: {await (await migrating).Content.ReadAsStringAsync()}");
            }

            Assert.True(DateTime.UtcNow < deadline, "no migration to cancel within 30 s");
            await Task.Delay(20);
        }

        using (var migrated = await migrating.WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(60))))
        {
            var body = await migrated.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Conflict, migrated.StatusCode);
            Assert.Contains("was cancelled", body, StringComparison.Ordinal);
        }

        Assert.Equal("running", (await Source.GetAsync("changed-mind")).State);
        Assert.Contains("migration cancelled", (await Source.Daemon.Store.ListLatestEventsAsync(100, (await Source.GetAsync("changed-mind")).Id)).Select(e => e.Message));
        using (var there = await Destination.Http.GetAsync("api/v1/vms/changed-mind"))
        {
            Assert.Equal(HttpStatusCode.NotFound, there.StatusCode);
        }

        // And it may go later, in full.
        using (var again = await MigrateAsync("changed-mind", ToDestination))
        {
            Assert.True(again.StatusCode == HttpStatusCode.OK, await again.Content.ReadAsStringAsync());
        }

        Assert.Equal("running", (await Destination.GetAsync("changed-mind")).State);
    }

    [KvmFact]
    public async Task A_migration_the_destination_refuses_leaves_the_VM_running_at_the_source_and_nothing_there()
    {
        await Source.CreateAsync("stayer", "serial-echo");
        await Source.ActOkAsync("stayer", "start");

        using (var refused = await MigrateAsync("stayer", ToDestination with { Token = "not-the-token" }))
        {
            var body = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Contains("the destination refused to define the VM: 401", body, StringComparison.Ordinal);
        }

        // A destination that has a VM of that name already: refused before anything moves.
        await Destination.CreateAsync("stayer");
        using (var conflict = await MigrateAsync("stayer", ToDestination))
        {
            var body = await conflict.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, conflict.StatusCode);
            Assert.Contains("the destination already has a VM named 'stayer'", body, StringComparison.Ordinal);
        }

        Assert.Equal("running", (await Source.GetAsync("stayer")).State);
        Assert.Equal("defined", (await Destination.GetAsync("stayer")).State); // its own, untouched

        foreach (var (spec, field) in new[]
        {
            (new MigrateSpec { To = "ftp://elsewhere" }, "to"),
            (ToDestination with { DowntimeMs = 0 }, "downtimeMs"),
            (ToDestination with { MaxBandwidth = 5 }, "maxBandwidth"),
            (ToDestination with { Nics = [new NicSpec("svtap9")] }, "nics"), // it has no NIC
        })
        {
            using var bad = await MigrateAsync("stayer", spec);
            var (named, _, _) = await TestDaemon.SingleFieldProblemAsync(bad);
            Assert.Equal(field, named);
        }

        using var notRunning = await Destination.Http.PostAsJsonAsync("api/v1/vms/stayer/migrate", ToDestination, ApiJsonContext.Default.MigrateSpec);
        Assert.Equal(HttpStatusCode.Conflict, notRunning.StatusCode);
    }
}
