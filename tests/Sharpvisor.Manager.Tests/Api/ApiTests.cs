using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// The REST API against a real daemon (Kestrel on 127.0.0.1, real VMMs on /dev/kvm running the test guest's idle
/// scenario), once per database: <see cref="SqliteApiTests"/> and <see cref="PostgresApiTests"/>.
/// </summary>
public abstract class ApiTests : IAsyncLifetime
{
    private static readonly TimeSpan EventTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(20));
    private TestDaemon? _daemon;

    protected TestDaemon D => _daemon ?? throw new InvalidOperationException("not initialized");

    protected HttpClient Http => D.Http;

    /// <summary>The database for this test (null: SQLite in the data directory).</summary>
    protected abstract Task<string?> CreateDatabaseAsync();

    protected virtual Task DropDatabaseAsync() => Task.CompletedTask;

    private string? _database;

    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        _daemon = await TestDaemon.StartAsync(_database);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }

        await DropDatabaseAsync();
    }

    private static StringContent Json(string json) => TestDaemon.Json(json);

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.DoesNotContain('\n', detail);
        Assert.DoesNotContain("   at ", detail, StringComparison.Ordinal);
        return problem;
    }

    private static IReadOnlyList<string> ErrorFields(JsonElement problem) =>
        [.. problem.GetProperty("errors").EnumerateObject().Select(p => p.Name)];

    [StoreFact]
    public async Task Create_read_list_update_delete()
    {
        using var created = await Http.PostAsync("api/v1/vms", Json("""{"name":"web1","builtInGuest":"idle","memoryMiB":64}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var vm = (await created.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;
        Assert.Equal($"/api/v1/vms/{vm.Id:D}", created.Headers.Location?.OriginalString);
        Assert.Equal(("web1", 1, 64, "serial", "", "defined", 1L), (vm.Name, vm.Vcpus, vm.MemoryMiB, vm.Console, vm.Cmdline, vm.State, vm.Version));
        Assert.Null(vm.Pid);
        // Nulls are left out of the JSON.
        Assert.DoesNotContain("\"kernel\"", await created.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(vm.Id, (await D.GetAsync(vm.Id.ToString())).Id);
        Assert.Equal(vm.Id, (await D.GetAsync("web1")).Id);
        await D.CreateAsync("app2");
        var all = (await Http.GetFromJsonAsync("api/v1/vms", ApiJsonContext.Default.IReadOnlyListVmResource))!;
        Assert.Equal(["app2", "web1"], all.Select(v => v.Name));
        var defined = (await Http.GetFromJsonAsync("api/v1/vms?state=defined", ApiJsonContext.Default.IReadOnlyListVmResource))!;
        Assert.Equal(2, defined.Count);
        Assert.Empty((await Http.GetFromJsonAsync("api/v1/vms?state=running", ApiJsonContext.Default.IReadOnlyListVmResource))!);

        // Fields left out keep their value; the version goes up.
        using var updated = await Http.PutAsync("api/v1/vms/web1", Json("""{"vcpus":2,"cmdline":"x"}"""));
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var after = (await updated.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;
        Assert.Equal((2, 64, "idle", "x", 2L), (after.Vcpus, after.MemoryMiB, after.BuiltInGuest, after.Cmdline, after.Version));

        // A stale version: 409, nothing changed.
        await ProblemAsync(await Http.PutAsync("api/v1/vms/web1", Json("""{"vcpus":3,"version":1}""")), HttpStatusCode.Conflict);
        Assert.Equal(2, (await D.GetAsync("web1")).Vcpus);
        using var renamed = await Http.PutAsync($"api/v1/vms/{vm.Id}", Json("""{"name":"web9","version":2}"""));
        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);

        using var deleted = await Http.DeleteAsync("api/v1/vms/web9");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await ProblemAsync(await Http.GetAsync($"api/v1/vms/{vm.Id}"), HttpStatusCode.NotFound);
        var events = (await Http.GetFromJsonAsync($"api/v1/vms/app2/events", ApiJsonContext.Default.IReadOnlyListEventResource))!;
        Assert.Equal("defined", Assert.Single(events).Kind);
    }

    [StoreFact]
    public async Task A_vnc_password_is_kept_but_never_shown_and_an_update_keeps_or_removes_it()
    {
        using var created = await Http.PostAsync("api/v1/vms", Json(
            """{"name":"desk1","builtInGuest":"display","memoryMiB":64,"display":{"heads":1,"vncListen":"127.0.0.1:5990","vncPassword":"0pen-Me"}}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.Content.ReadAsStringAsync();
        Assert.DoesNotContain("0pen-Me", body, StringComparison.Ordinal);
        Assert.Equal(new DisplaySpec(1, 1024, 768, "127.0.0.1:5990", null, true), (await D.GetAsync("desk1")).Display);
        Assert.DoesNotContain("0pen-Me", await Http.GetStringAsync("api/v1/vms"), StringComparison.Ordinal);

        // What a client read and sends back (no password in it) keeps the password; "" removes it.
        using (var resized = await Http.PutAsync("api/v1/vms/desk1", Json("""{"display":{"heads":2,"vncListen":"127.0.0.1:5990","vncPasswordSet":true}}""")))
        {
            Assert.Equal(HttpStatusCode.OK, resized.StatusCode);
        }

        Assert.Equal(new DisplaySpec(2, 1024, 768, "127.0.0.1:5990", null, true), (await D.GetAsync("desk1")).Display);
        using (var cleared = await Http.PutAsync("api/v1/vms/desk1", Json("""{"display":{"heads":2,"vncPassword":""}}""")))
        {
            Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        }

        Assert.Equal(new DisplaySpec(2, 1024, 768, null, null, false), (await D.GetAsync("desk1")).Display);
        var problem = await ProblemAsync(
            await Http.PutAsync("api/v1/vms/desk1", Json("""{"display":{"heads":1,"vncPassword":"far-too-long"}}""")), HttpStatusCode.BadRequest);
        Assert.Equal(["display.vncPassword"], ErrorFields(problem));
    }

    [StoreFact]
    public async Task Invalid_input_is_a_400_naming_each_field()
    {
        var problem = await ProblemAsync(
            await Http.PostAsync("api/v1/vms", Json("""{"name":"Bad Name","vcpus":0,"memoryMiB":1,"builtInGuest":"idle","disks":[{"path":"relative.img"}]}""")),
            HttpStatusCode.BadRequest);
        Assert.Equal(["disks[0].path", "memoryMiB", "name", "vcpus"], ErrorFields(problem).Order(StringComparer.Ordinal));

        await ProblemAsync(await Http.PostAsync("api/v1/vms", Json("{not json")), HttpStatusCode.BadRequest);
        await ProblemAsync(await Http.PostAsync("api/v1/vms", Json("""{"name":"x","vcpus":"two"}""")), HttpStatusCode.BadRequest);
        await ProblemAsync(await Http.PostAsync("api/v1/vms", Json("null")), HttpStatusCode.BadRequest);
        Assert.Equal(["state"], ErrorFields(await ProblemAsync(await Http.GetAsync("api/v1/vms?state=sleeping"), HttpStatusCode.BadRequest)));
        await D.CreateAsync("ok1");
        Assert.Equal(["limit"], ErrorFields(await ProblemAsync(await Http.GetAsync("api/v1/vms/ok1/events?limit=0"), HttpStatusCode.BadRequest)));
        await ProblemAsync(await Http.GetAsync("api/v1/vms/ok1/events?after=abc"), HttpStatusCode.BadRequest);
        Assert.Equal(["memoryMiB"], ErrorFields(await ProblemAsync(await Http.PutAsync("api/v1/vms/ok1", Json("""{"memoryMiB":0}""")), HttpStatusCode.BadRequest)));

        // Nothing invalid was stored.
        Assert.Equal(["ok1"], (await Http.GetFromJsonAsync("api/v1/vms", ApiJsonContext.Default.IReadOnlyListVmResource))!.Select(v => v.Name));
        Assert.Equal(64, (await D.GetAsync("ok1")).MemoryMiB);
    }

    [StoreFact]
    public async Task Unknown_VMs_are_404_and_taken_names_409()
    {
        foreach (var path in new[] { "api/v1/vms/nope", $"api/v1/vms/{Guid.NewGuid()}", "api/v1/vms/nope/events", "api/v1/vms/nope/metrics" })
        {
            await ProblemAsync(await Http.GetAsync(path), HttpStatusCode.NotFound);
        }

        await ProblemAsync(await D.ActAsync("nope", "start"), HttpStatusCode.NotFound);
        await ProblemAsync(await Http.DeleteAsync("api/v1/vms/nope"), HttpStatusCode.NotFound);
        await ProblemAsync(await Http.GetAsync("api/v1/no-such-route"), HttpStatusCode.NotFound);

        await D.CreateAsync("taken");
        await ProblemAsync(await Http.PostAsync("api/v1/vms", Json("""{"name":"taken","builtInGuest":"idle"}""")), HttpStatusCode.Conflict);
        await D.CreateAsync("other");
        await ProblemAsync(await Http.PutAsync("api/v1/vms/other", Json("""{"name":"taken"}""")), HttpStatusCode.Conflict);
        // Actions on a VM that does not run.
        await ProblemAsync(await D.ActAsync("taken", "stop"), HttpStatusCode.Conflict);
        await ProblemAsync(await D.ActAsync("taken", "pause"), HttpStatusCode.Conflict);
        await ProblemAsync(await Http.GetAsync("api/v1/vms/taken/console"), HttpStatusCode.BadRequest);
    }

    [StoreFact]
    public async Task A_missing_or_wrong_token_is_a_401_and_changes_nothing()
    {
        await D.CreateAsync("keep");
        var wrongToken = new string('0', 64);
        foreach (var client in new[] { D.NewClient(null), D.NewClient(wrongToken), D.NewClient(D.Daemon.Token.Value[..63]) })
        {
            using (client)
            {
                await ProblemAsync(await client.GetAsync("api/v1/vms"), HttpStatusCode.Unauthorized);
                await ProblemAsync(await client.PostAsync("api/v1/vms", Json("""{"name":"intruder","builtInGuest":"idle"}""")), HttpStatusCode.Unauthorized);
                await ProblemAsync(await client.DeleteAsync("api/v1/vms/keep"), HttpStatusCode.Unauthorized);
                await ProblemAsync(await client.PostAsync("api/v1/vms/keep/start", null), HttpStatusCode.Unauthorized);
                await ProblemAsync(await client.GetAsync("metrics"), HttpStatusCode.Unauthorized);
                await ProblemAsync(await client.GetAsync("api/v1/events"), HttpStatusCode.Unauthorized);
            }
        }

        // ?access_token= only on the event stream, the console and the VNC WebSocket (which answer 400 to a plain GET,
        // past the token check); anywhere else, even a path that only ends like them, it is no token.
        using var anonymous = D.NewClient(null);
        await ProblemAsync(await anonymous.GetAsync($"api/v1/vms?access_token={D.Daemon.Token.Value}"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await anonymous.GetAsync($"api/v1/vms/keep/display?access_token={D.Daemon.Token.Value}"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await anonymous.GetAsync($"api/v1/vms/keep/display/0/vnc?access_token={wrongToken}"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await anonymous.GetAsync($"api/v1/vms/keep/display/0/vnc?access_token={D.Daemon.Token.Value}"), HttpStatusCode.BadRequest);
        await ProblemAsync(await anonymous.GetAsync($"api/v1/events?access_token={wrongToken}"), HttpStatusCode.Unauthorized);
        using (var stream = await EventStreamReader.OpenAsync(anonymous, $"api/v1/events?access_token={D.Daemon.Token.Value}"))
        {
            Assert.Equal("text/event-stream", stream.ContentType);
        }

        var vms = (await Http.GetFromJsonAsync("api/v1/vms", ApiJsonContext.Default.IReadOnlyListVmResource))!;
        var keep = Assert.Single(vms);
        Assert.Equal(("keep", "defined"), (keep.Name, keep.State));
        Assert.Null(keep.Pid);
    }

    [StoreFact]
    public async Task The_event_stream_starts_with_new_events_or_after_a_given_id()
    {
        var first = await D.CreateAsync("first");
        var history = (await Http.GetFromJsonAsync("api/v1/vms/first/events", ApiJsonContext.Default.IReadOnlyListEventResource))!;
        var defined = Assert.Single(history);

        using var fresh = await EventStreamReader.OpenAsync(Http, "api/v1/events");
        using var replay = await EventStreamReader.OpenAsync(Http, "api/v1/events?after=0");
        using var resumed = await EventStreamReader.OpenAsync(Http, $"api/v1/events?after={defined.Id}");
        var second = await D.CreateAsync("second");
        using var deleted = await Http.DeleteAsync("api/v1/vms/first");

        await fresh.WaitForAsync(e => e.Kind == "deleted" && e.VmId == first.Id, EventTimeout, "deleted");
        Assert.Equal(["defined", "deleted"], fresh.Events.Select(e => e.Data.Kind));
        Assert.Equal(second.Id, fresh.Events[0].Data.VmId);
        await replay.WaitForAsync(e => e.Kind == "deleted", EventTimeout, "deleted");
        Assert.Equal([defined.Id], replay.Events.Take(1).Select(e => e.Data.Id));
        await resumed.WaitForAsync(e => e.Kind == "deleted", EventTimeout, "deleted");
        Assert.Equal(fresh.Events.Select(e => e.Data.Id), resumed.Events.Select(e => e.Data.Id));

        // Last-Event-ID (what a reconnecting EventSource sends) resumes as after= does.
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/events");
        request.Headers.Add("Last-Event-ID", defined.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal($"id: {fresh.Events[0].Data.Id}", await reader.ReadLineAsync());
        await ProblemAsync(await Http.GetAsync("api/v1/events?vm=nope"), HttpStatusCode.NotFound);
    }

    [StoreFact]
    public async Task The_event_stream_sees_writes_of_another_manager_on_the_same_database()
    {
        using var stream = await EventStreamReader.OpenAsync(Http, "api/v1/events");
        // Another host on a shared PostgreSQL (here: another store on the same database): no signal reaches this daemon.
        await using var elsewhere = await Sharpvisor.Manager.Store.VmStores.OpenAsync(D.Daemon.DataDirectory, _database);
        var created = await elsewhere.CreateAsync(new Sharpvisor.Manager.Store.VmDefinition { Name = "elsewhere", BuiltInGuest = "idle" });

        // Within a few polls (200 ms here), not at the next keep-alive (15 s).
        var seen = await stream.WaitForAsync(e => e.VmId == created.Id, TestTime.Ceiling(TimeSpan.FromSeconds(5)), "from the other store");
        Assert.Equal("defined", seen.Event);
        Assert.Equal("elsewhere", (await D.GetAsync("elsewhere")).Name);
    }

    [StoreFact]
    public async Task The_OpenAPI_document_is_served_without_a_token()
    {
        using var anonymous = D.NewClient(null);
        using var document = JsonDocument.Parse(await anonymous.GetStringAsync("openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/vms", "/api/v1/vms/{vm}", "/api/v1/vms/{vm}/start", "/api/v1/events", "/api/v1/host", "/metrics" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is not in the OpenAPI document");
        }

        // The token is declared, so generated clients send it.
        var scheme = document.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        Assert.Equal(("http", "bearer"), (scheme.GetProperty("type").GetString(), scheme.GetProperty("scheme").GetString()));
        Assert.True(document.RootElement.GetProperty("security")[0].TryGetProperty("bearer", out _), document.RootElement.GetProperty("security").ToString());
    }

    [KvmStoreFact]
    public async Task A_VM_goes_through_its_lifecycle_and_the_event_stream_sees_it()
    {
        var vm = await D.CreateAsync("life");
        using var stream = await EventStreamReader.OpenAsync(Http, $"api/v1/events?vm={vm.Id}");

        var started = await D.ActOkAsync("life", "start");
        Assert.Equal("running", started.State);
        Assert.True(started.Pid is > 0 && IsAlive(started.Pid.Value));
        await stream.WaitForAsync(e => e.Kind == "state" && e.Message == "running", EventTimeout, "running");

        await ProblemAsync(await D.ActAsync("life", "start"), HttpStatusCode.Conflict);
        await ProblemAsync(await Http.PutAsync("api/v1/vms/life", Json("""{"vcpus":2}""")), HttpStatusCode.Conflict);
        await ProblemAsync(await Http.DeleteAsync("api/v1/vms/life"), HttpStatusCode.Conflict);
        Assert.Equal(1, (await D.GetAsync("life")).Vcpus);

        Assert.Equal("paused", (await D.ActOkAsync("life", "pause")).State);
        await stream.WaitForAsync(e => e.Message == "paused", EventTimeout, "paused");
        Assert.Equal("running", (await D.ActOkAsync("life", "resume")).State);

        var rebooted = await D.ActOkAsync("life", "reboot");
        Assert.Equal("running", rebooted.State);
        Assert.NotEqual(started.Pid, rebooted.Pid);
        Assert.False(IsAlive(started.Pid!.Value));

        var stopped = await D.ActOkAsync("life", "stop?timeout=5");
        Assert.Equal(("stopped", null), (stopped.State, stopped.Pid));
        Assert.False(IsAlive(rebooted.Pid!.Value));
        await stream.WaitForAsync(e => e.Message.StartsWith("stopped", StringComparison.Ordinal), EventTimeout, "stopped");

        var again = await D.ActOkAsync("life", "start");
        var killed = await D.ActOkAsync("life", "kill");
        Assert.Equal("stopped", killed.State);
        Assert.Contains("killed", killed.ExitReason, StringComparison.Ordinal);
        Assert.False(IsAlive(again.Pid!.Value));

        // Server-sent event framing: id and event name match the data; only this VM's events.
        var seen = stream.Events;
        Assert.All(seen, e => Assert.Equal((e.Data.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Data.Kind), (e.Id, e.Event)));
        Assert.All(seen, e => Assert.Equal(vm.Id, e.Data.VmId));
        Assert.Equal(seen.Select(e => e.Data.Id).Order(), seen.Select(e => e.Data.Id));

        // Deleting a stopped VM works; its history stays readable through the stream's past.
        using var deleted = await Http.DeleteAsync("api/v1/vms/life");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [KvmStoreFact]
    public async Task Concurrent_starts_of_one_VM_are_serialized()
    {
        await D.CreateAsync("race");
        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
        {
            using var response = await D.ActAsync("race", "start");
            return response.StatusCode;
        }));
        Assert.Equal(1, answers.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(9, answers.Count(s => s == HttpStatusCode.Conflict));
        var events = (await Http.GetFromJsonAsync("api/v1/vms/race/events", ApiJsonContext.Default.IReadOnlyListEventResource))!;
        Assert.Single(events, e => e.Kind == "state" && e.Message == "starting");
        await D.ActOkAsync("race", "kill");
    }

    [StoreFact]
    public async Task A_VM_whose_VMM_exits_before_it_runs_failed_to_start_and_says_why()
    {
        // A kernel file that is no kernel: the VMM refuses it before it opens KVM, so this holds on any machine.
        var kernel = Path.Combine(D.Directory, "not-a-kernel");
        await File.WriteAllTextAsync(kernel, "plain text, not an ELF or a bzImage\n");
        using var created = await Http.PostAsync("api/v1/vms", Json($$"""{"name":"dud","kernel":"{{kernel}}","memoryMiB":64}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        var started = await D.ActOkAsync("dud", "start");

        Assert.Equal("failed", started.State);
        Assert.Contains("not-a-kernel", started.ExitReason, StringComparison.Ordinal);
        // Stored as such (the schema allows it), counted as such, and startable again.
        Assert.Equal("failed", (await D.GetAsync("dud")).State);
        var host = (await Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource))!;
        Assert.Equal((1, 0), (host.VmsByState["failed"], host.VmsByState["crashed"]));
        Assert.Equal("failed", (await D.ActOkAsync("dud", "start")).State);
        var events = (await Http.GetFromJsonAsync("api/v1/vms/dud/events", ApiJsonContext.Default.IReadOnlyListEventResource))!;
        Assert.Contains(events, e => e.Message.Contains("failed to start the VM", StringComparison.Ordinal));
    }

    [KvmStoreFact]
    public async Task Metrics_come_from_the_running_VMM()
    {
        var vm = await D.CreateAsync("meter");
        var idle = (await Http.GetFromJsonAsync("api/v1/vms/meter/metrics", ApiJsonContext.Default.VmMetricsResource))!;
        Assert.Equal(("defined", null, null), (idle.State, idle.RssBytes, idle.VcpuExitsPerCpu));

        await D.ActOkAsync("meter", "start");
        await Task.Delay(200);
        var metrics = (await Http.GetFromJsonAsync("api/v1/vms/meter/metrics", ApiJsonContext.Default.VmMetricsResource))!;
        Assert.Equal((vm.Id, "running"), (metrics.Id, metrics.State));
        Assert.True(metrics.UptimeSeconds > 0);
        Assert.True(metrics.RssBytes > 1 << 20);
        Assert.True(metrics.VcpuExits > 0);
        Assert.Equal(metrics.VcpuExits, Assert.Single(metrics.VcpuExitsPerCpu!));

        var host = (await Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource))!;
        Assert.Equal((1, 1, 64L, 1), (host.VmCount, host.VmsByState["running"], host.MemoryCommittedMiB, host.VcpusCommitted));
        Assert.Equal(Environment.ProcessorCount, host.HostCpus);
        Assert.True(host.HostMemoryMiB > 0);

        using var response = await Http.GetAsync("metrics");
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        var labels = $"vm=\"meter\",id=\"{vm.Id:D}\"";
        Assert.Contains("sharpvisor_vms{state=\"running\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_memory_committed_bytes 67108864\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vcpus_committed 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_up{{{labels}}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_uptime_seconds{{{labels}}} ", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_vcpu_exits_total{{{labels},vcpu=\"0\"}} ", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_rss_bytes{{{labels}}} ", text, StringComparison.Ordinal);
        await D.ActOkAsync("meter", "kill");
    }

    [KvmStoreFact]
    public async Task A_VMM_killed_from_outside_leaves_a_crashed_VM_and_an_event()
    {
        var vm = await D.CreateAsync("victim");
        using var stream = await EventStreamReader.OpenAsync(Http, "api/v1/events");
        var running = await D.ActOkAsync("victim", "start");

        Process.GetProcessById(running.Pid!.Value).Kill();

        var crashed = await stream.WaitForAsync(e => e.VmId == vm.Id && e.Kind == "state" && e.Message.StartsWith("crashed", StringComparison.Ordinal), EventTimeout, "crashed");
        Assert.Contains("signal 9", crashed.Data.Message, StringComparison.Ordinal);
        var after = await D.GetAsync("victim");
        Assert.Equal(("crashed", null), (after.State, after.Pid));
        // A crashed VM starts again.
        Assert.Equal("running", (await D.ActOkAsync("victim", "start")).State);
        await D.ActOkAsync("victim", "kill");
    }

    [KvmStoreFact]
    public async Task A_VMM_that_does_not_answer_is_a_500_with_a_one_line_detail()
    {
        await D.CreateAsync("hung");
        var pid = (await D.ActOkAsync("hung", "start")).Pid!.Value;
        Posix.Signal("-STOP", pid);
        try
        {
            var problem = await ProblemAsync(await D.ActAsync("hung", "pause"), HttpStatusCode.InternalServerError);
            Assert.Contains("pause failed", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            Posix.Signal("-CONT", pid);
        }

        // Answering again, it is controllable again.
        Assert.Equal("paused", (await D.ActOkAsync("hung", "pause")).State);
        await D.ActOkAsync("hung", "kill");
    }

    private static bool IsAlive(int pid) => Sharpvisor.Manager.Supervisor.ProcessProbe.StartTime(pid) is not null;
}

public sealed class SqliteApiTests : ApiTests
{
    protected override Task<string?> CreateDatabaseAsync() => Task.FromResult<string?>(null);
}

[RequiresPostgres]
public sealed class PostgresApiTests : ApiTests
{
    private readonly string _schema = "sharpvisor_api_" + Guid.NewGuid().ToString("N");

    protected override async Task<string?> CreateDatabaseAsync()
    {
        if (PostgresServer.ConnectionString is null)
        {
            return null; // skipped: the tests do not run, and SQLite keeps the set-up harmless
        }

        await AdminAsync($"CREATE SCHEMA {_schema}");
        return new Npgsql.NpgsqlConnectionStringBuilder(PostgresServer.Require()) { SearchPath = _schema }.ConnectionString;
    }

    protected override Task DropDatabaseAsync() =>
        PostgresServer.ConnectionString is null ? Task.CompletedTask : AdminAsync($"DROP SCHEMA IF EXISTS {_schema} CASCADE");

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(PostgresServer.Require());
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
