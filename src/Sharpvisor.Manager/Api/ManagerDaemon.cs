using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The manager daemon (<c>sharpvisor serve</c>): the inventory, the supervisor and the REST API on one data
/// directory. <see cref="StartAsync"/> returns once it listens; disposing it stops the API and leaves the VMs running
/// for the next start to re-attach. Tests run it in-process:
/// <code>await using var daemon = await ManagerDaemon.StartAsync(new ManagerOptions { DataDirectory = dir, Listen = new(IPAddress.Loopback, 0), SharpvisorExecutable = exe });
/// http.DefaultRequestHeaders.Authorization = new("Bearer", daemon.Token.Value); http.BaseAddress = daemon.Url;</code>
/// </summary>
public sealed class ManagerDaemon : IAsyncDisposable
{
    /// <summary>The VM defined when the inventory is empty at start, so the UI has something to start.</summary>
    public const string DefaultVmName = "testguest";

    /// <summary>Its built-in guest scenario. TODO: "shell" once the test guest has it.</summary>
    public const string DefaultVmScenario = "shell";

    public const string ServeInfoFileName = DaemonLocations.ServeInfoFileName;
    private const string LockFileName = "serve.lock";

    private readonly WebApplication _app;
    private readonly FileStream _lock;
    private int _disposed;

    private ManagerDaemon(WebApplication app, FileStream dataLock, ApiToken token, IVmStore store, VmSupervisor supervisor, string dataDirectory, Uri url)
    {
        _app = app;
        _lock = dataLock;
        Token = token;
        Store = store;
        Supervisor = supervisor;
        DataDirectory = dataDirectory;
        Url = url;
    }

    /// <summary>The base URL it listens on, e.g. http://127.0.0.1:7780/ (with the port picked when 0 was asked).</summary>
    public Uri Url { get; }

    /// <summary>The UI's address with the token in the fragment (not sent to the server, read by the page).</summary>
    public string UiUrl => $"{Url}#token={Token.Value}";

    public ApiToken Token { get; }

    public string DataDirectory { get; }

    /// <summary>The SHA-256 fingerprint of the HTTPS certificate (null over plain HTTP): what a client pins.</summary>
    public string? CertificateFingerprint { get; private init; }

    public string ServeInfoPath => Path.Combine(DataDirectory, ServeInfoFileName);

    public IVmStore Store { get; }

    public VmSupervisor Supervisor { get; }

    /// <summary>Completes when the host stops (SIGTERM, Ctrl-C) or <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>
    /// Opens the data directory (one daemon at a time: a second gets an <see cref="IOException"/>), the token, the
    /// store and the supervisor (re-attaching to VMMs still running), defines the default VM on an empty inventory,
    /// starts listening (an address in use: <see cref="IOException"/>) and writes serve.json.
    /// </summary>
    public static async Task<ManagerDaemon> StartAsync(ManagerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(dataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var dataLock = LockDataDirectory(dataDirectory);
        if (options.StorageRoots is null)
        {
            Directory.CreateDirectory(options.DefaultStorageRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        IVmStore? store = null;
        VmSupervisor? supervisor = null;
        try
        {
            var token = ApiToken.LoadOrCreate(dataDirectory);
            var signal = new EventSignal();
            store = new SignalingVmStore(
                await VmStores.OpenAsync(dataDirectory, options.DatabaseConnectionString, cancellationToken: cancellationToken).ConfigureAwait(false), signal);
            var executable = options.SharpvisorExecutable ?? OwnExecutable();
            supervisor = new VmSupervisor(executable, Path.Combine(dataDirectory, "run"), store, options.Supervisor);
            await supervisor.ReattachAsync(cancellationToken).ConfigureAwait(false);
            if (options.DefineDefaultVm)
            {
                await DefineDefaultVmAsync(store, cancellationToken).ConfigureAwait(false);
            }

            var certificate = options.UsesTls ? DaemonCertificate.Load(options, dataDirectory) : null;
            var app = ManagerApp.Build(options, token, store, supervisor, signal, certificate);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                await app.DisposeAsync().ConfigureAwait(false);
                throw new IOException($"cannot listen on {options.Listen}: {FirstLine(e.InnerException?.Message ?? e.Message)}", e);
            }

            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            var daemon = new ManagerDaemon(app, dataLock, token, store, supervisor, dataDirectory, Connectable(new Uri(address.TrimEnd('/') + "/")))
            {
                CertificateFingerprint = certificate is null ? null : DaemonCertificate.Fingerprint(certificate),
            };
            daemon.WriteServeInfo();
            return daemon;
        }
        catch
        {
            if (supervisor is not null)
            {
                await supervisor.DisposeAsync().ConfigureAwait(false);
            }

            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            await dataLock.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the API (open streams and consoles end), stops watching the VMMs (they keep running), removes serve.json.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            File.Delete(ServeInfoPath);
        }
        catch (IOException)
        {
        }

        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stopping.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        await Supervisor.DisposeAsync().ConfigureAwait(false);
        await Store.DisposeAsync().ConfigureAwait(false);
        await _lock.DisposeAsync().ConfigureAwait(false);
    }

    private static FileStream LockDataDirectory(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, LockFileName);
        try
        {
            // FileShare.None is an exclusive flock on Linux: the kernel drops it when the process dies, even by kill -9.
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException e)
        {
            throw new IOException($"another sharpvisor serve is using {dataDirectory} ({e.Message})", e);
        }
    }

    private static async Task DefineDefaultVmAsync(IVmStore store, CancellationToken cancellationToken)
    {
        if ((await store.ListAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Count > 0)
        {
            return;
        }

        try
        {
            await store.CreateAsync(new VmDefinition { Name = DefaultVmName, BuiltInGuest = DefaultVmScenario, Vcpus = 1, MemoryMiB = 64 }, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (VmNameConflictException)
        {
            // Another host on the same PostgreSQL defined it first.
        }
    }

    /// <summary>A wildcard address (0.0.0.0, [::]) is where the daemon listens, not one a client can connect to: loopback instead.</summary>
    private static Uri Connectable(Uri url) => url.Host switch
    {
        "0.0.0.0" => new UriBuilder(url) { Host = "127.0.0.1" }.Uri,
        "[::]" => new UriBuilder(url) { Host = "[::1]" }.Uri,
        _ => url,
    };

    private void WriteServeInfo()
    {
        var info = new ServeInfo(Url.ToString().TrimEnd('/'), Environment.ProcessId) { Fingerprint = CertificateFingerprint };
        var temporary = ServeInfoPath + ".tmp";
        using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(file, info, ApiJsonContext.Default.ServeInfo);
        }

        File.Move(temporary, ServeInfoPath, overwrite: true);
    }

    /// <summary>The <c>sharpvisor</c> executable beside the daemon's (sharpvisor-serve is installed next to it).</summary>
    private static string OwnExecutable()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "sharpvisor");
        return File.Exists(beside) ? beside : throw new InvalidOperationException($"{beside} is missing: it runs the VMs");
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
