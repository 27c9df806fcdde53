using System.Net;
using Sharpvisor.Api;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>How a <see cref="ManagerDaemon"/> runs: where it listens, where its data is, what runs the VMs.</summary>
public sealed record ManagerOptions
{
    /// <summary>The default of <c>--listen</c>: loopback only.</summary>
    public const int DefaultPort = 7780;

    /// <summary>Holds sharpvisor.db (SQLite), token, serve.json and run/ (the VMMs' sockets); created mode 0700.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The address Kestrel binds; port 0 picks a free one (see <see cref="ManagerDaemon.Url"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, DefaultPort);

    /// <summary>A PEM certificate (and <see cref="TlsKeyPath"/>, else the key in the same file) to serve HTTPS with; null: a self-signed one in DATA/tls when TLS is needed.</summary>
    public string? TlsCertificatePath { get; init; }

    public string? TlsKeyPath { get; init; }

    /// <summary>Serve plain HTTP even beyond loopback (<c>serve --insecure-http</c>): the token then crosses the network in clear.</summary>
    public bool AllowInsecureHttp { get; init; }

    /// <summary>
    /// HTTPS when a certificate is configured, or when the daemon listens beyond loopback (unless plain HTTP is
    /// forced): the API token, consoles and events must not cross a network in clear.
    /// </summary>
    public bool UsesTls => TlsCertificatePath is not null || (!IPAddress.IsLoopback(Listen.Address) && !AllowInsecureHttp);

    /// <summary>An Npgsql connection string; null keeps the inventory in SQLite in <see cref="DataDirectory"/>.</summary>
    public string? DatabaseConnectionString { get; init; }

    /// <summary>
    /// The directories whose files (after every symbolic link) a definition may name as kernel, initrd or disk
    /// (<c>serve --storage-root DIR</c>); null: <see cref="DefaultStorageRoot"/> only. The data directory itself is
    /// never a good root: it holds the API token and the database.
    /// </summary>
    public IReadOnlyList<string>? StorageRoots { get; init; }

    /// <summary>The storage root when none is configured: <c>images</c> in the data directory, created at start.</summary>
    public string DefaultStorageRoot => Path.Combine(DataDirectory, "images");

    /// <summary>The roots in force.</summary>
    public IReadOnlyList<string> EffectiveStorageRoots => StorageRoots ?? [DefaultStorageRoot];

    /// <summary>Names given to storage roots (<c>serve --storage-root NAME=DIR</c>), by root; see <see cref="StoragePools"/>.</summary>
    public IReadOnlyDictionary<string, string>? StoragePoolNames { get; init; }

    /// <summary>The roots in force as named pools (<see cref="StoragePool.Of"/>).</summary>
    public IReadOnlyList<StoragePool> StoragePools => StoragePool.Of(EffectiveStorageRoots, StoragePoolNames, DefaultStorageRoot);

    /// <summary>The <c>sharpvisor</c> binary that runs each VM; null: this process's own executable.</summary>
    public string? SharpvisorExecutable { get; init; }

    /// <summary>The supervisor's timeouts; null: its defaults.</summary>
    public VmSupervisorOptions? Supervisor { get; init; }

    /// <summary>Define the <c>testguest</c> VM when the inventory is empty at start.</summary>
    public bool DefineDefaultVm { get; init; } = true;

    /// <summary>How often an event stream looks for events written by others (another host on a shared PostgreSQL).</summary>
    public TimeSpan EventPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often an idle event stream sends a <c>: keep-alive</c> comment.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the metrics history (GET .../history) samples the host and the running VMs; it keeps 720 samples.</summary>
    public TimeSpan MetricsSampleInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether the KVM device this daemon's VMMs open (<see cref="VmSupervisorOptions.KvmDevice"/>, else /dev/kvm) is usable.</summary>
    public KvmReadiness ProbeKvm() => KvmReadiness.Probe(Supervisor?.KvmDevice ?? Kvm.KvmSystem.DefaultPath);

    /// <inheritdoc cref="DaemonLocations.DefaultDataDirectory"/>
    public static string DefaultDataDirectory() => DaemonLocations.DefaultDataDirectory();
}
