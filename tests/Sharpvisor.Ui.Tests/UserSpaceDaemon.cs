using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sharpvisor.Kvm.Host;

namespace Sharpvisor.Ui.Tests;

/// <summary>
/// A <c>sharpvisor-serve</c> process whose VMs can run guest user space (a Linux shell), for a browser test: on this
/// host when its KVM runs guest user space, else inside a nested KVM host (<c>tools/nested-kvm/run --forward</c>) whose
/// daemon port is forwarded to this host's loopback. Only the daemon and its VMMs are emulated there: the browser and
/// the test stay here at native speed (Chromium under the emulator took over 18 minutes for what takes one here).
/// Disposing it stops the daemon (and the nested host with every VM in it).
/// </summary>
public sealed partial class UserSpaceDaemon : IUiDaemon
{
    // The nested host's address on QEMU's user-mode network (tools/nested-kvm/init) and the daemon's port there.
    private const string NestedListen = "10.0.2.15:7780";

    private readonly Process _process;
    private readonly string? _dataDirectory;

    private UserSpaceDaemon(Process process, string? dataDirectory, string uiUrl, bool nested)
    {
        _process = process;
        _dataDirectory = dataDirectory;
        UiUrl = uiUrl;
        Nested = nested;
        var token = TokenInUrl().Match(uiUrl).Groups[1].Value;
        Http = new HttpClient { BaseAddress = new Uri(uiUrl[..uiUrl.IndexOf('#', StringComparison.Ordinal)]), Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(60)) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>Whether this host's KVM runs guest user space, so no nested host is needed.</summary>
    public static bool RunsHere => KvmAvailability.Problem is null && HostVirtualization.Detect() != VirtualizationKind.PvmEmulation;

    /// <summary>
    /// Why a test needing this daemon cannot run here: neither guest user space on this host's KVM nor root for a
    /// nested host (tools/nested-kvm/run needs root). Null under CI=true, where it must run.
    /// </summary>
    public static string? SkipReason => RunsHere || Environment.IsPrivilegedProcess || KvmAvailability.IsCi
        ? null
        : "this host's KVM runs no guest user space and a nested KVM host needs root (CI=true makes this a failure)";

    public string UiUrl { get; }

    public HttpClient Http { get; }

    /// <summary>Whether the daemon runs in a nested KVM host.</summary>
    public bool Nested { get; }

    /// <summary>Starts the daemon, letting its VMs use the files under <paramref name="storageRoots"/> (kernels, images).</summary>
    public static async Task<UserSpaceDaemon> StartAsync(params string[] storageRoots)
    {
        var serve = Path.Combine(AppContext.BaseDirectory, "sharpvisor-serve");
        var roots = storageRoots.SelectMany(root => new[] { "--storage-root", root });
        Process process;
        string? dataDirectory = null;
        var nested = !RunsHere;
        if (nested)
        {
            var port = FreeLoopbackPort();
            process = Start(Path.Combine(TestBinaries.RepositoryRoot, "tools/nested-kvm/run"),
                ["--time-limit", "3000", "--cpus", "1", "--memory", "4G", "--forward", $"{port}:7780", "--", serve,
                 "--listen", NestedListen, "--insecure-http", "--data-dir", "/tmp/sharpvisor-data", .. roots]);
            var url = await WaitForUiUrlAsync(process, TestTime.Ceiling(TimeSpan.FromMinutes(5)));
            return new UserSpaceDaemon(process, null, url.Replace($"http://{NestedListen}/", $"http://127.0.0.1:{port}/", StringComparison.Ordinal), nested);
        }

        // Short: the VMMs' unix sockets live under it.
        dataDirectory = Directory.CreateTempSubdirectory("svs-").FullName;
        process = Start(serve, ["--listen", "127.0.0.1:0", "--data-dir", dataDirectory, .. roots]);
        return new UserSpaceDaemon(process, dataDirectory, await WaitForUiUrlAsync(process, TestTime.Ceiling(TimeSpan.FromMinutes(1))), nested);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        // SIGTERM first: tools/nested-kvm/run then kills its QEMU and removes its job folder; the daemon stops cleanly.
        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        using var deadline = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
        if (_dataDirectory is not null)
        {
            StrayVmms.Kill(_dataDirectory);
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private static Process Start(string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
    }

    /// <summary>
    /// Reads the daemon's output (the nested host's console too) until it names its web UI's address, within
    /// <paramref name="ceiling"/>. All it prints goes to artifacts/ui/user-space-daemon.log as it comes (the nested
    /// host's kernel and the daemon's warnings say why a guest is slow); the last lines go into a failure's message.
    /// </summary>
    private static async Task<string> WaitForUiUrlAsync(Process process, TimeSpan ceiling)
    {
        var output = new List<string>();
        var log = new StreamWriter(Browser.ArtifactPath("user-space-daemon.log"), append: false) { AutoFlush = true };
        var closed = false;
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is not { } line)
            {
                return;
            }

            lock (output)
            {
                if (closed)
                {
                    return;
                }

                output.Add(line);
                log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.f} {line}");
            }

            if (UiUrlLine().Match(line) is { Success: true } match)
            {
                found.TrySetResult(match.Groups[1].Value);
            }
        }

        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        _ = exited.ContinueWith(
            _ =>
            {
                lock (output)
                {
                    closed = true;
                    log.Dispose();
                }
            },
            TaskScheduler.Default);
        var first = await Task.WhenAny(found.Task, exited, Task.Delay(ceiling));
        if (first == found.Task)
        {
            return await found.Task;
        }

        if (first != exited)
        {
            process.Kill(entireProcessTree: true);
        }

        string said;
        lock (output)
        {
            said = string.Join('\n', output.TakeLast(40));
        }

        throw new InvalidOperationException(first == exited
            ? $"the daemon ended ({process.ExitCode}) before it served its web UI; it said:\n{said}"
            : $"the daemon did not serve its web UI within {ceiling}; it said:\n{said}");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"sharpvisor: web UI at (\S+#token=[0-9a-f]+)")]
    private static partial Regex UiUrlLine();

    [GeneratedRegex("#token=([0-9a-f]+)")]
    private static partial Regex TokenInUrl();
}
