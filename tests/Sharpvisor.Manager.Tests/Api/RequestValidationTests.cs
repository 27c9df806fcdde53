using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// What a client sends that can never run is a 400 naming the field in the API's own terms (never a 500, never .NET
/// type names), and the host's readiness is visible before any VM fails: a real daemon on SQLite, no VM started.
/// </summary>
public sealed class RequestValidationTests : DaemonTest
{
    /// <summary>POSTs a create and returns the single field its 400 names, with the message.</summary>
    private Task<(string Field, string Message, string Body)> RefusedAsync(string json) => D.CreateRefusedAsync(json);

    private string FileIn(string name, string content = "data")
    {
        var path = Path.Combine(D.Directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public async Task A_disk_path_with_a_comma_is_refused_at_create_not_at_start()
    {
        var disk = FileIn("a,b.img");
        var (field, message, _) = await RefusedAsync($$"""{"name":"comma","builtInGuest":"idle","disks":[{"path":"{{disk}}"}]}""");
        Assert.Equal("disks[0].path", field);
        Assert.StartsWith("must not contain a comma", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_that_can_never_run_are_refused_naming_the_field()
    {
        var good = FileIn("good.img");
        var missing = Path.Combine(D.Directory, "missing.img");
        Assert.Equal(("disks[1].path", $"'{missing}' does not exist on this host"),
            Short(await RefusedAsync($$"""{"name":"f1","builtInGuest":"idle","disks":[{"path":"{{good}}"},{"path":"{{missing}}"}]}""")));
        Assert.Equal(("disks[0].path", $"'{D.Directory}' is a directory, not a file"),
            Short(await RefusedAsync($$"""{"name":"f2","builtInGuest":"idle","disks":[{"path":"{{D.Directory}}"}]}""")));
        Assert.Equal(("disks[0].path", "'/dev/null' is a device node; give a regular file (a raw image)"),
            Short(await RefusedAsync("""{"name":"f3","builtInGuest":"idle","disks":[{"path":"/dev/null"}]}""")));
        Assert.Equal(("kernel", $"'{missing}' does not exist on this host"),
            Short(await RefusedAsync($$"""{"name":"f4","kernel":"{{missing}}"}""")));

        // An update is held to the same: a file that exists is taken, then a missing one is refused.
        using var created = await D.Http.PostAsync("api/v1/vms", new StringContent($$"""{"name":"f5","builtInGuest":"idle","disks":[{"path":"{{good}}"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var update = await D.Http.PutAsync("api/v1/vms/f5", new StringContent($$"""{"disks":[{"path":"{{missing}}"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, update.StatusCode);
        Assert.Contains("disks[0].path", await update.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static (string, string) Short((string Field, string Message, string Body) refused) => (refused.Field, refused.Message);

    [Fact]
    public async Task An_unknown_built_in_guest_is_refused_with_the_known_ones()
    {
        var (field, message, _) = await RefusedAsync("""{"name":"g1","builtInGuest":"nope"}""");
        Assert.Equal("builtInGuest", field);
        Assert.StartsWith("'nope' is not a scenario of the built-in guest (one of: hello, ", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"j1","builtInGuest":"idle","memoryMiB":"64"}""", "memoryMiB", "must be a whole number of MiB")]
    [InlineData("""{"name":"j2","builtInGuest":"idle","memoryMiB":99999999999}""", "memoryMiB", "must be a whole number of MiB")]
    [InlineData("""{"name":"j3","builtInGuest":"idle","memoryMiB":1.5}""", "memoryMiB", "must be a whole number of MiB")]
    [InlineData("""{"name":"j4","builtInGuest":"idle","vcpus":"2"}""", "vcpus", "must be a whole number")]
    [InlineData("""{"name":"j5","builtInGuest":"idle","memoryMB":64}""", "memoryMB", "is not a field of this request")]
    [InlineData("""{"name":"j6","builtInGuest":"idle","disks":[{"path":"/x","ro":true}]}""", "disks[0].ro", "is not a field of this request")]
    [InlineData("""{"name":"j7","builtInGuest":"idle","disks":[{"path":"/x","readOnly":"yes"}]}""", "disks[0].readOnly", "must be true or false")]
    [InlineData("""{"name":"j8","builtInGuest":"idle","name":7}""", "name", "must be a string")]
    public async Task Json_of_the_wrong_shape_names_the_field_in_the_APIs_terms(string json, string expectedField, string expectedMessage)
    {
        var (field, message, _) = await RefusedAsync(json);
        Assert.Equal(expectedField, field);
        Assert.StartsWith(expectedMessage, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_stream_for_an_unknown_VM_is_a_404_problem_even_for_an_EventSource()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/events?vm=nosuch");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await D.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no VM with id or name 'nosuch'", JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task The_host_says_whether_VMs_can_start_here_and_what_is_left()
    {
        var host = (await D.Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource))!;

        // What this test can see for itself: whether /dev/kvm exists and opens read-write.
        var present = File.Exists("/dev/kvm");
        var opens = false;
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            opens = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        Assert.Equal(("/dev/kvm", present, opens), (host.Kvm.Device, host.Kvm.Present, host.Kvm.Usable));
        if (host.Kvm.Usable)
        {
            Assert.Contains(host.Kvm.Backend, new[] { "vt-x", "amd-v", "pvm", "unknown" });
            Assert.Null(host.Kvm.Reason);
        }
        else
        {
            Assert.Equal("none", host.Kvm.Backend);
            Assert.Contains("/dev/kvm", host.Kvm.Reason, StringComparison.Ordinal);
        }

        Assert.InRange(host.HostMemoryAvailableMiB, 1, host.HostMemoryMiB);
        var storage = Assert.Single(host.Storage);
        Assert.Equal(D.Daemon.DataDirectory, storage.Path);
        Assert.InRange(storage.FreeBytes, 1, storage.TotalBytes);
        Assert.Equal(0, host.VmsByState["failed"]);
    }

    [Fact]
    public async Task On_a_host_without_usable_KVM_the_host_says_why_and_a_start_fails_with_that_reason()
    {
        var device = Path.Combine(D.Directory, "no-kvm");
        await using var daemon = await TestDaemon.StartAsync(null, kvmDevice: device);

        var host = (await daemon.Http.GetFromJsonAsync("api/v1/host", ApiJsonContext.Default.HostResource))!;
        Assert.Equal((device, false, false, "none"), (host.Kvm.Device, host.Kvm.Present, host.Kvm.Usable, host.Kvm.Backend));
        Assert.StartsWith($"{device} does not exist", host.Kvm.Reason, StringComparison.Ordinal);

        await daemon.CreateAsync("nokvm");
        var started = await daemon.ActOkAsync("nokvm", "start");
        Assert.Equal("failed", started.State);
        Assert.StartsWith($"{device} does not exist", started.ExitReason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_built_in_guest_scenarios_are_the_test_guests_table()
    {
        var main = File.ReadAllText(Path.Combine(TestBinaries.RepositoryRoot, "guests", "testguest", "main.c"));
        var table = main[main.IndexOf("scenarios[] = {", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("};", StringComparison.Ordinal)];
        var names = System.Text.RegularExpressions.Regex.Matches(table, "\\{ \"([a-z0-9-]+)\",").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(names);
        Assert.Equal(names, BuiltInGuestScenarios.Names);
    }
}
