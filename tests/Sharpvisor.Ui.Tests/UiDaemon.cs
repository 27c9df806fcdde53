using System.Net;
using System.Net.Http.Headers;
using Sharpvisor.Manager.Api;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// A real daemon for one test: <see cref="ManagerDaemon"/> on 127.0.0.1 port 0 with its data in a new temporary
/// directory, VMs run by the real <c>sharpvisor</c> built into this output. Disposing it stops the daemon and kills
/// the VMMs it left running.
/// </summary>
public sealed class UiDaemon : IUiDaemon
{
    private readonly string _directory;

    private UiDaemon(ManagerDaemon daemon, string directory)
    {
        Daemon = daemon;
        _directory = directory;
        Http = new HttpClient { BaseAddress = daemon.Url, Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(60)) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", daemon.Token.Value);
    }

    public ManagerDaemon Daemon { get; }

    public string UiUrl => Daemon.UiUrl;

    public HttpClient Http { get; }

    /// <summary>The directory of its first storage pool, "desktops".</summary>
    public string PoolDirectory => Path.Combine(_directory, "desktops");

    /// <param name="kvmDevice">
    /// The KVM device the daemon probes (GET /api/v1/host) and its VMMs open; a path that does not exist makes a host
    /// where no VM can start, on any machine. Null: /dev/kvm.
    /// </param>
    /// <param name="metricsInterval">How often its metrics history samples (the charts' data); null: the default 5 s.</param>
    public static async Task<UiDaemon> StartAsync(string? kvmDevice = null, TimeSpan? metricsInterval = null)
    {
        // Short: the VMMs' unix sockets live under it.
        var directory = Directory.CreateTempSubdirectory("svu-").FullName;
        var daemon = await ManagerDaemon.StartAsync(new ManagerOptions
        {
            DataDirectory = Path.Combine(directory, "data"),
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            SharpvisorExecutable = TestBinaries.Sharpvisor,
            Supervisor = new VmSupervisorOptions { StartTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(15)), StopTimeout = TestTime.Ceiling(TimeSpan.FromSeconds(5)), KvmDevice = kvmDevice },
            EventPollInterval = TimeSpan.FromMilliseconds(200),
            MetricsSampleInterval = metricsInterval ?? TimeSpan.FromSeconds(5),
            // A pool of its own first (the storage page shows it first), and PageSession.TempFile's images and kernels.
            StorageRoots = [Directory.CreateDirectory(Path.Combine(directory, "desktops")).FullName, Path.GetTempPath()],
            StoragePoolNames = new Dictionary<string, string> { [Path.Combine(directory, "desktops")] = "desktops" },
        });
        return new UiDaemon(daemon, directory);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        var runDirectory = Daemon.Supervisor.RunDirectory;
        await Daemon.DisposeAsync();
        StrayVmms.Kill(runDirectory);

        Directory.Delete(_directory, recursive: true);
    }
}
