using System.Data.Common;
using System.Globalization;
using System.Net;
using Sharpvisor.Cli;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Api;


namespace Sharpvisor.Serve;

/// <summary>
/// <c>sharpvisor serve</c>: the manager daemon (REST API, web UI, supervisor of one VMM per VM) until SIGTERM or
/// Ctrl-C; the VMs keep running after it exits and are re-attached at the next start. See docs/api.md.
/// </summary>
internal static class ServeCommand
{
    private static readonly HashSet<string> ValueOptions = ["--listen", "--data-dir", "--database", "--kvm", "--storage-root", "--tls-cert", "--tls-key"];

    public static int Execute(string[] args)
    {
        var options = new ArgumentReader(args, ValueOptions, new HashSet<string> { "--insecure-http" });
        if (options.Get("--tls-key") is not null && options.Get("--tls-cert") is null)
        {
            throw new UsageException("--tls-key needs --tls-cert");
        }

        var managerOptions = new ManagerOptions
        {
            Listen = ParseListen(options.Get("--listen") ?? $"127.0.0.1:{ManagerOptions.DefaultPort}"),
            DataDirectory = NonEmpty(options, "--data-dir") ?? ManagerOptions.DefaultDataDirectory(),
            DatabaseConnectionString = NonEmpty(options, "--database") ?? (Environment.GetEnvironmentVariable("SHARPVISOR_DATABASE") is { Length: > 0 } env ? env : null),
            Supervisor = NonEmpty(options, "--kvm") is { } kvm ? new() { KvmDevice = Path.GetFullPath(kvm) } : null,
            StorageRoots = StorageRoots(options.GetAll("--storage-root"), out var poolNames),
            StoragePoolNames = poolNames,
            TlsCertificatePath = NonEmpty(options, "--tls-cert") is { } cert ? Path.GetFullPath(cert) : null,
            TlsKeyPath = NonEmpty(options, "--tls-key") is { } key ? Path.GetFullPath(key) : null,
            AllowInsecureHttp = options.Has("--insecure-http"),
        };
        if (managerOptions.StorageRoots?.FirstOrDefault(root => SamePath(root, managerOptions.DataDirectory)) is { } dataRoot)
        {
            throw new UsageException($"--storage-root '{dataRoot}' is the data directory, which holds the token and the inventory: give its images directory or another one");
        }

        return RunAsync(managerOptions).GetAwaiter().GetResult();
    }

    /// <summary>
    /// Each --storage-root is DIR or NAME=DIR (the pool's name, else the directory's), DIR an existing directory; none
    /// given: null (the data directory's images, pool "default").
    /// </summary>
    private static IReadOnlyList<string>? StorageRoots(IReadOnlyList<string> given, out IReadOnlyDictionary<string, string>? names)
    {
        names = null;
        if (given.Count == 0)
        {
            return null;
        }

        var roots = new List<string>(given.Count);
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in given)
        {
            var equals = value.IndexOf('=', StringComparison.Ordinal);
            var (name, root) = equals > 0 && !value[..equals].Contains('/', StringComparison.Ordinal) ? (value[..equals], value[(equals + 1)..]) : (null, value);
            if (name is not null && !StoragePool.IsValidName(name))
            {
                throw new UsageException($"--storage-root '{value}': the pool name must be 1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit");
            }

            if (root.Length == 0 || !Directory.Exists(root))
            {
                throw new UsageException($"--storage-root '{root}' is not an existing directory");
            }

            var full = Path.GetFullPath(root);
            if (name is not null)
            {
                if (named.ContainsValue(name))
                {
                    throw new UsageException($"--storage-root: two pools are named '{name}'");
                }

                named[full] = name;
            }

            roots.Add(full);
        }

        names = named.Count > 0 ? named : null;
        return roots;
    }

    private static bool SamePath(string a, string b) =>
        (HostFile.RealPath(a) ?? Path.GetFullPath(a)).TrimEnd('/') == (HostFile.RealPath(b) ?? Path.GetFullPath(b)).TrimEnd('/');

    /// <summary>"HOST:PORT" with an IP address (or localhost) and a port 0-65535; 0 picks a free port.</summary>
    public static IPEndPoint ParseListen(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw new UsageException($"--listen '{text}' is not HOST:PORT (e.g. 127.0.0.1:7780)");
        }

        var host = text[..colon].Trim('[', ']');
        if (!ushort.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            throw new UsageException($"--listen '{text}': the port must be a number from 0 to 65535");
        }

        var address = host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new UsageException($"--listen '{text}': '{host}' is not an IP address");
        return new IPEndPoint(address, port);
    }

    /// <summary>What a user must know before relying on this daemon: VMs cannot start here, or the API is open to the network.</summary>
    public static IEnumerable<string> StartupWarnings(ManagerOptions options, KvmReadiness kvm)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(kvm);
        if (!kvm.Usable)
        {
            yield return $"VMs cannot start on this host: {kvm.Reason}";
        }

        if (!IPAddress.IsLoopback(options.Listen.Address) && !options.UsesTls)
        {
            yield return $"{options.Listen} serves plain HTTP beyond this host (--insecure-http): the API token and consoles "
                + "cross the network unencrypted";
        }
    }

    private static async Task<int> RunAsync(ManagerOptions options)
    {
        ManagerDaemon daemon;
        try
        {
            daemon = await ManagerDaemon.StartAsync(options).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            return Program.Fail(ExitCodes.RuntimeError, $"cannot open the inventory database: {e.Message.ReplaceLineEndings(" ")}");
        }

        await using (daemon.ConfigureAwait(false))
        {
            Console.Out.WriteLine($"sharpvisor: token in {daemon.Token.Path}");
            Console.Out.WriteLine($"sharpvisor: listening on {daemon.Url.ToString().TrimEnd('/')}");
            if (daemon.CertificateFingerprint is { } fingerprint)
            {
                Console.Out.WriteLine($"sharpvisor: TLS certificate SHA-256 fingerprint {fingerprint} (the CLI pins it from serve.json, or $SHARPVISOR_FINGERPRINT)");
            }

            // Warnings before the last start-up line, so whoever waits for that line has them too.
            foreach (var warning in StartupWarnings(options, options.ProbeKvm()))
            {
                Console.Error.WriteLine($"sharpvisor: warning: {warning}");
            }

            Console.Out.WriteLine($"sharpvisor: web UI at {daemon.UiUrl}");
            Console.Out.Flush();
            await daemon.WaitForShutdownAsync().ConfigureAwait(false);
        }

        Console.Out.WriteLine("sharpvisor: stopped (running VMs keep running)");
        return ExitCodes.Success;
    }

    private static string? NonEmpty(ArgumentReader options, string name) =>
        options.Get(name) is { } value
            ? value.Length > 0 ? value : throw new UsageException($"{name} must not be empty")
            : null;
}
