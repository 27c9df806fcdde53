using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Sharpvisor.Api;
using Sharpvisor.Manager.Api;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// A real daemon for one test: <see cref="ManagerDaemon"/> in this process on 127.0.0.1 port 0, its data in a new
/// temporary directory, VMs run by the real <c>sharpvisor</c> binary built into the test output. Disposing it stops
/// the daemon and kills every VMM it left running.
/// </summary>
public sealed class TestDaemon : IAsyncDisposable
{
    public static readonly string Executable = TestBinaries.Sharpvisor;

    private TestDaemon(ManagerDaemon daemon, string directory)
    {
        Daemon = daemon;
        Directory = directory;
        Http = NewClient(daemon.Token.Value);
    }

    public ManagerDaemon Daemon { get; }

    /// <summary>The temporary directory; the data directory is its "data".</summary>
    public string Directory { get; }

    /// <summary>A client with the daemon's token.</summary>
    public HttpClient Http { get; }

    public static VmSupervisorOptions SupervisorOptions { get; } = new()
    {
        StartTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(15)),
        StopTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(5)),
        ControlTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(2)),
    };

    /// <param name="database">An Npgsql connection string, or null for SQLite in the data directory.</param>
    /// <param name="defineDefaultVm">Whether the daemon defines testguest in an empty inventory.</param>
    /// <param name="kvmDevice">The KVM device its VMMs open (a missing one: a host where no VM can start); null: /dev/kvm.</param>
    /// <param name="metricsSampleInterval">How often the metrics history samples; null: the daemon's default.</param>
    /// <param name="pools">Storage pools to make, each a directory of that name in the daemon's directory; null: the system's temporary directory.</param>
    public static async Task<TestDaemon> StartAsync(string? database, bool defineDefaultVm = false, string? kvmDevice = null, TimeSpan? metricsSampleInterval = null,
        IReadOnlyList<string>? pools = null)
    {
        // Short: the VMMs' unix sockets live under it.
        var directory = System.IO.Directory.CreateTempSubdirectory("sva-").FullName;
        var roots = pools?.Select(p => System.IO.Directory.CreateDirectory(Path.Combine(directory, p)).FullName).ToArray();
        var options = new ManagerOptions
        {
            DataDirectory = Path.Combine(directory, "data"),
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            DatabaseConnectionString = database,
            SharpvisorExecutable = Executable,
            Supervisor = SupervisorOptions with { KvmDevice = kvmDevice },
            DefineDefaultVm = defineDefaultVm,
            EventPollInterval = TimeSpan.FromMilliseconds(200),
            StorageRoots = roots ?? [Path.GetTempPath()], // the tests' images and kernels are temporary files
            StoragePoolNames = roots?.Zip(pools!).ToDictionary(p => p.First, p => p.Second),
        };
        var daemon = await ManagerDaemon.StartAsync(metricsSampleInterval is { } interval ? options with { MetricsSampleInterval = interval } : options);
        return new TestDaemon(daemon, directory);
    }

    /// <summary>A JSON request body.</summary>
    public static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    public HttpClient NewClient(string? token)
    {
        var client = new HttpClient { BaseAddress = Daemon.Url, Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(60)) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task<VmResource> CreateAsync(string name, string scenario = "idle")
    {
        using var response = await Http.PostAsJsonAsync("api/v1/vms", new VmSpec { Name = name, BuiltInGuest = scenario, MemoryMiB = 64 }, ApiJsonContext.Default.VmSpec);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;
    }

    /// <summary>
    /// Asserts <paramref name="response"/> is a 400 ProblemDetails naming exactly one field, in the API's own terms
    /// (no .NET type names), and returns that field, its first message and the body.
    /// </summary>
    public static async Task<(string Field, string Message, string Body)> SingleFieldProblemAsync(HttpResponseMessage response, string? request = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{request} -> {(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("Sharpvisor.", body, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", body, StringComparison.Ordinal);
        var error = Assert.Single(System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("errors").EnumerateObject().ToList());
        return (error.Name, error.Value[0].GetString()!, body);
    }

    /// <summary>POSTs a create of <paramref name="json"/> that must be refused for one field.</summary>
    public async Task<(string Field, string Message, string Body)> CreateRefusedAsync(string json)
    {
        using var response = await Http.PostAsync("api/v1/vms", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        return await SingleFieldProblemAsync(response, json);
    }

    public async Task<VmResource> GetAsync(string vm) =>
        (await Http.GetFromJsonAsync($"api/v1/vms/{vm}", ApiJsonContext.Default.VmResource))!;

    /// <summary>POSTs an action and returns the answer (any status).</summary>
    public Task<HttpResponseMessage> ActAsync(string vm, string action) => Http.PostAsync($"api/v1/vms/{vm}/{action}", null);

    /// <summary>POSTs an action that must succeed and returns the VM it answers with.</summary>
    public async Task<VmResource> ActOkAsync(string vm, string action)
    {
        using var response = await ActAsync(vm, action);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{action} {vm}: {(int)response.StatusCode} {body}");
        return System.Text.Json.JsonSerializer.Deserialize(body, ApiJsonContext.Default.VmResource)!;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        var runDirectory = Daemon.Supervisor.RunDirectory;
        await Daemon.DisposeAsync();
        KillLeftovers(runDirectory);
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>Kills whatever VMM still holds a control socket in <paramref name="runDirectory"/>.</summary>
    public static void KillLeftovers(string runDirectory)
    {
        if (!System.IO.Directory.Exists(runDirectory))
        {
            return;
        }

        foreach (var socket in System.IO.Directory.EnumerateFiles(runDirectory, "*.sock", SearchOption.AllDirectories))
        {
            foreach (var pid in ProcessProbe.FindByControlSocket(socket))
            {
                if (ProcessProbe.StartTime(pid) is { } start)
                {
                    ProcessProbe.Kill(pid, start);
                }
            }
        }
    }
}
