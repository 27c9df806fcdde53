using System.Net;
using System.Net.Http.Json;
using Sharpvisor.Api;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// Templates and thin clones through the API: a stopped VM becomes a template, which never runs; a clone is its
/// definition under a new name with each writable disk a qcow2 overlay over the template's, and the template keeps
/// its disks while any clone reads them. Real files, a real daemon on SQLite.
/// </summary>
public sealed class TemplateApiTests : DaemonTest
{
    private const byte TemplateByte = 0xC3;

    /// <summary>A VM "gold" on a 1 MiB raw system disk of <see cref="TemplateByte"/> and a read-only data disk, made a template.</summary>
    private async Task<(string System, string Data)> TemplateAsync(string scenario = "idle", string cmdline = "")
    {
        var system = Path.Combine(D.Directory, "gold.raw");
        await File.WriteAllBytesAsync(system, Enumerable.Repeat(TemplateByte, 1 << 20).ToArray());
        var data = Path.Combine(D.Directory, "shared.raw");
        await File.WriteAllBytesAsync(data, new byte[64 * 1024]);
        using var created = await D.Http.PostAsJsonAsync("api/v1/vms", new VmSpec
        {
            Name = "gold", BuiltInGuest = scenario, Cmdline = cmdline, MemoryMiB = 64,
            Disks = [new DiskSpec(system), new DiskSpec(data, ReadOnly: true)],
        }, ApiJsonContext.Default.VmSpec);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var made = await D.Http.PutAsync("api/v1/vms/gold", Json("""{"template":true}"""));
        Assert.Equal(HttpStatusCode.OK, made.StatusCode);
        Assert.True((await D.GetAsync("gold")).Template);
        return (system, data);
    }

    private async Task<HttpResponseMessage> CloneAsync(string template, string name) =>
        await D.Http.PostAsync($"api/v1/vms/{template}/clone", Json($$"""{"name":"{{name}}"}"""));

    private static async Task<string> ConflictAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"{response.StatusCode}: {body}");
            return body;
        }
    }

    [Fact]
    public async Task A_clone_is_the_template_under_a_new_name_with_an_overlay_over_each_writable_disk()
    {
        var (system, data) = await TemplateAsync();
        using var cloned = await CloneAsync("gold", "desk-1");
        Assert.Equal(HttpStatusCode.Created, cloned.StatusCode);
        var clone = (await cloned.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;

        Assert.Equal(("desk-1", false, "idle", 64), (clone.Name, clone.Template, clone.BuiltInGuest, clone.MemoryMiB));
        Assert.Equal(2, clone.Disks.Count);
        var overlay = clone.Disks[0];
        Assert.Equal((Path.Combine(D.Directory, "desk-1-disk0.qcow2"), false, "qcow2"), (overlay.Path, overlay.ReadOnly, overlay.Format));
        Assert.Equal([(system, DiskFormat.Raw)], Qcow2Image.BackingFiles(overlay.Path));
        Assert.Equal(1UL << 20, Qcow2Image.ReadInfo(overlay.Path).VirtualSize);
        Assert.Equal(new DiskSpec(data, true, "raw"), clone.Disks[1]); // read-only: shared as it is

        // The same name again: refused, and the first clone's overlay is not replaced.
        await ConflictAsync(await CloneAsync("gold", "desk-1"));
        Assert.Single(Directory.GetFiles(D.Directory, "desk-1-*"));
    }

    [Fact]
    public async Task A_template_never_runs_and_keeps_its_disks_while_a_clone_reads_them()
    {
        await TemplateAsync();
        Assert.Contains("is a template and never runs", await ConflictAsync(await D.ActAsync("gold", "start")), StringComparison.Ordinal);
        using (var cloned = await CloneAsync("gold", "desk-1"))
        {
            Assert.Equal(HttpStatusCode.Created, cloned.StatusCode);
        }

        Assert.Contains("'desk-1'", await ConflictAsync(await D.Http.DeleteAsync("api/v1/vms/gold")), StringComparison.Ordinal);
        Assert.Contains("'desk-1'", await ConflictAsync(await D.Http.PutAsync("api/v1/vms/gold", Json("""{"template":false}"""))), StringComparison.Ordinal);
        Assert.Contains("'desk-1'", await ConflictAsync(await D.Http.PutAsync("api/v1/vms/gold", Json("""{"disks":[]}"""))), StringComparison.Ordinal);
        using (var renamed = await D.Http.PutAsync("api/v1/vms/gold", Json("""{"memoryMiB":128}""")))
        {
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode); // what its clones do not read may change
        }

        // Once no VM reads its disks, it is a VM like any other again.
        using (var deleted = await D.Http.DeleteAsync("api/v1/vms/desk-1"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using var ordinary = await D.Http.PutAsync("api/v1/vms/gold", Json("""{"template":false}"""));
        Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
        Assert.False((await D.GetAsync("gold")).Template);
    }

    [Fact]
    public async Task Only_a_template_is_cloned_and_a_clone_needs_a_valid_name()
    {
        await D.CreateAsync("plain");
        Assert.Contains("is not a template", await ConflictAsync(await CloneAsync("plain", "copy")), StringComparison.Ordinal);
        await TemplateAsync();
        var (field, _, _) = await TestDaemon.SingleFieldProblemAsync(await CloneAsync("gold", "Bad Name"));
        Assert.Equal("name", field);
        using var missing = await D.Http.PostAsync("api/v1/vms/nosuch/clone", Json("""{"name":"x"}"""));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Empty(Directory.GetFiles(D.Directory, "*.qcow2"));
    }

    [Fact]
    public async Task Another_VM_may_not_start_writing_a_templates_disk()
    {
        var (system, _) = await TemplateAsync();
        using (var created = await D.Http.PostAsJsonAsync("api/v1/vms", new VmSpec
        {
            Name = "vandal", BuiltInGuest = "idle", MemoryMiB = 64, Disks = [new DiskSpec(system)],
        }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var refused = await ConflictAsync(await D.ActAsync("vandal", "start"));
        Assert.Contains($"'{system}' is a disk of template 'gold'", refused, StringComparison.Ordinal);
        Assert.Equal("defined", (await D.GetAsync("vandal")).State);
        Assert.All(await File.ReadAllBytesAsync(system), b => Assert.Equal(TemplateByte, b));
    }

    [KvmFact]
    public async Task Two_clones_each_write_only_their_own_overlay_and_the_template_stays_as_it_was()
    {
        var (system, _) = await TemplateAsync("virtio-blk", "sectors=8 start=0");
        var clones = new[] { ("desk-1", 0L), ("desk-2", 100L) };
        foreach (var (name, start) in clones)
        {
            using (var cloned = await CloneAsync("gold", name))
            {
                Assert.Equal(HttpStatusCode.Created, cloned.StatusCode);
            }

            using (var updated = await D.Http.PutAsync($"api/v1/vms/{name}", Json($$"""{"cmdline":"sectors=8 start={{start}}"}""")))
            {
                Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
            }

            await D.ActOkAsync(name, "start");
            var ended = await VmWait.EndedAsync(D, name, TestTime.Ceiling(TimeSpan.FromSeconds(60)));
            Assert.True(ended.State == "stopped", $"{name}'s disk test failed: {ended.State}, {ended.ExitReason}");
        }

        Assert.All(await File.ReadAllBytesAsync(system), b => Assert.Equal(TemplateByte, b));
        foreach (var (name, start) in clones)
        {
            using var image = Qcow2Image.Open(Path.Combine(D.Directory, $"{name}-disk0.qcow2"), readOnly: true);
            var sector = new byte[512];
            foreach (var s in new long[] { 0, 7, 8, 100, 107, 108 })
            {
                image.Read(s * 512, sector);
                var mine = s >= start && s < start + 8;
                Assert.True(sector[1] == (mine ? (byte)(((s * 31) + 7) ^ 0x5A) : TemplateByte), $"{name}, sector {s}: 0x{sector[1]:x2}");
            }
        }
    }

    private static StringContent Json(string json) => TestDaemon.Json(json);
}
