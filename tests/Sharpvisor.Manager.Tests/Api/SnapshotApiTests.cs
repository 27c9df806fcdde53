using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// /api/v1/vms/{vm}/snapshots with a real (confined, when the tests run as root) VMM and the test guest's serial-echo
/// scenario, which counts the bytes it echoes: a VM restored from a snapshot must go on counting from where it was;
/// and its generation scenario, which checks every page of its window itself.
/// </summary>
public sealed class SnapshotApiTests : DaemonTest
{
    private async Task<HttpResponseMessage> TakeAsync(string vm, string json) =>
        await D.Http.PostAsync($"api/v1/vms/{vm}/snapshots", new StringContent(json, Encoding.UTF8, "application/json"));

    [KvmFact]
    public async Task A_VM_snapshotted_and_stopped_goes_on_from_where_it_was_when_restored()
    {
        await D.CreateAsync("snap", "serial-echo");
        await D.ActOkAsync("snap", "start");
        using (var console = await ConsoleApiTests.ConnectAsync(D, "snap"))
        {
            var seen = new StringBuilder();
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "serial-echo: ready");
            await console.SendAsync("abc"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "ready\nabc");
        }

        using (var taken = await TakeAsync("snap", """{"name": "before-upgrade", "stop": true}"""))
        {
            var body = await taken.Content.ReadAsStringAsync();
            Assert.True(taken.StatusCode == HttpStatusCode.Created, body);
            var snapshot = System.Text.Json.JsonSerializer.Deserialize(body, ApiJsonContext.Default.SnapshotResource)!;
            Assert.Equal("before-upgrade", snapshot.Name);
            Assert.True(snapshot.SizeBytes >= 64L << 20, $"{snapshot.SizeBytes} bytes: not all of RAM");
            Assert.True(snapshot.RamBytes is > 0 and < 64L << 20, $"{snapshot.RamBytes} bytes of RAM written");
        }

        Assert.Equal("stopped", (await D.GetAsync("snap")).State);
        var listed = await D.Http.GetFromJsonAsync("api/v1/vms/snap/snapshots", ApiJsonContext.Default.IReadOnlyListSnapshotResource);
        Assert.Equal("before-upgrade", Assert.Single(listed!).Name);

        var restored = await D.ActOkAsync("snap", "snapshots/before-upgrade/restore");
        Assert.Equal("running", restored.State);
        await ProblemAsync(await D.ActAsync("snap", "snapshots/before-upgrade/restore"), HttpStatusCode.Conflict);

        using (var console = await ConsoleApiTests.ConnectAsync(D, "snap"))
        {
            var seen = new StringBuilder();
            await console.SendAsync("xyz\u0004"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
            // 3 bytes before the snapshot, 3 after: the count came back with the guest's memory and registers.
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, "serial-echo: 6 bytes");
        }

        using var deleted = await D.Http.DeleteAsync("api/v1/vms/snap/snapshots/before-upgrade");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Empty((await D.Http.GetFromJsonAsync("api/v1/vms/snap/snapshots", ApiJsonContext.Default.IReadOnlyListSnapshotResource))!);
    }

    [KvmFact]
    public async Task A_guest_writing_every_page_on_4_vCPUs_restored_by_the_manager_finds_every_page_as_it_was_saved()
    {
        // As the migration between managers: each vCPU checks before every write that its pages hold the last sweep's
        // number, so a page the snapshot lost or restored stale stops the guest ("a page lost its generation").
        using (var created = await D.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "sweeper", BuiltInGuest = "generation", Cmdline = "mib=16 every=8 cpus=4", Vcpus = 4, MemoryMiB = 512 },
            ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await D.ActOkAsync("sweeper", "start");
        long lastBefore;
        using (var console = await ConsoleApiTests.ConnectAsync(D, "sweeper"))
        {
            var seen = new StringBuilder();
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, text => MigrationApiTests.Generations(text).Any(g => g >= 16), "generation 16", TimeSpan.FromSeconds(90));
            lastBefore = MigrationApiTests.Generations(seen.ToString()).Max();
        }

        using (var taken = await TakeAsync("sweeper", """{"name": "mid-sweep", "stop": true}"""))
        {
            Assert.True(taken.StatusCode == HttpStatusCode.Created, await taken.Content.ReadAsStringAsync());
        }

        Assert.Equal("running", (await D.ActOkAsync("sweeper", "snapshots/mid-sweep/restore")).State);
        using (var console = await ConsoleApiTests.ConnectAsync(D, "sweeper"))
        {
            // Three reports past the last one seen before the snapshot: every page checked three times since.
            var seen = new StringBuilder();
            var wanted = lastBefore + (3 * 8);
            await ConsoleApiTests.ReceiveUntilAsync(console, seen, text => MigrationApiTests.Generations(text).Any(g => g >= wanted), $"generation {wanted}", TimeSpan.FromSeconds(90));
            Assert.DoesNotContain("holds", seen.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("generation: window", seen.ToString(), StringComparison.Ordinal); // went on, no fresh boot
        }

        Assert.Equal("running", (await D.GetAsync("sweeper")).State);
    }

    [KvmFact]
    public async Task Bad_names_unknown_snapshots_and_a_VM_that_does_not_run_get_clear_errors()
    {
        await D.CreateAsync("idle");
        foreach (var name in new[] { "../escape", "", ".hidden", "a/b", new string('x', 65), "a\\n", "a\\u0000" })
        {
            var (field, message, _) = await TestDaemon.SingleFieldProblemAsync(await TakeAsync("idle", $$"""{"name": "{{name}}"}"""), name);
            Assert.Equal(("name", "must be 1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit"), (field, message));
        }

        // A stopped VM has nothing to snapshot; a snapshot nobody took is not found.
        await ProblemAsync(await TakeAsync("idle", """{"name": "s1"}"""), HttpStatusCode.Conflict);
        await ProblemAsync(await D.ActAsync("idle", "snapshots/s1/restore"), HttpStatusCode.NotFound);
        await ProblemAsync(await D.Http.DeleteAsync("api/v1/vms/idle/snapshots/s1"), HttpStatusCode.NotFound);
        await ProblemAsync(await TakeAsync("nosuchvm", """{"name": "s1"}"""), HttpStatusCode.NotFound);
    }

    private static async Task ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }
}
