using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sharpvisor.Api;
using Sharpvisor.Integration.Tests.Networking;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>
/// A real <c>sharpvisor serve</c> process on 127.0.0.1 port 0 with a temporary data directory, for tests that run
/// the real CLI against it. At the end it kills the VMs still running (a daemon's exit leaves them running) and stops.
/// Made with a network namespace, the daemon and every CLI run live there (its 127.0.0.1 and its TAPs are the
/// namespace's), as a host's daemon sees the host's network.
/// </summary>
public sealed class DaemonFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly NetworkNamespace? _ns;
    private readonly string[] _serveOptions;
    private Process? _serve;

    public DaemonFixture()
        : this(null, Directory.CreateTempSubdirectory("sharpvisor-cli-").FullName)
    {
    }

    /// <param name="ns">Where the daemon and the CLI run; null: this machine's network.</param>
    /// <param name="dataDirectory">The daemon's data directory (made if missing, deleted at the end).</param>
    /// <param name="serveOptions">More options of <c>serve</c>, e.g. <c>--storage-root DIR</c>.</param>
    internal DaemonFixture(NetworkNamespace? ns, string dataDirectory, params string[] serveOptions)
    {
        _ns = ns;
        _serveOptions = serveOptions;
        DataDirectory = Directory.CreateDirectory(dataDirectory).FullName;
    }

    public string DataDirectory { get; }

    /// <summary>The daemon's default storage root (DATA/images, made at its start): where the tests put kernels and images.</summary>
    public string ImagesDirectory => Path.Combine(DataDirectory, "images");

    public string Url { get; private set; } = "";

    public string Token { get; private set; } = "";

    /// <summary>The options that point the CLI at this daemon through its data directory.</summary>
    public string[] DataDirOption => ["--data-dir", DataDirectory];

    public async Task InitializeAsync()
    {
        string[] args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", DataDirectory, .. _serveOptions];
        _serve = Process.Start(StartInfo(args))!;
        _serve.OutputDataReceived += (_, e) => Append(e.Data);
        _serve.ErrorDataReceived += (_, e) => Append(e.Data);
        _serve.BeginOutputReadLine();
        _serve.BeginErrorReadLine();

        var serveJson = Path.Combine(DataDirectory, "serve.json");
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60));
        while (!File.Exists(serveJson))
        {
            Assert.False(_serve.HasExited, $"sharpvisor serve exited: {Output}");
            Assert.True(DateTime.UtcNow < deadline, $"sharpvisor serve wrote no serve.json within 60 s: {Output}");
            await Task.Delay(50);
        }

        Url = JsonSerializer.Deserialize(await File.ReadAllTextAsync(serveJson), ApiJsonContext.Default.ServeInfo)!.Url;
        Token = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "token"))).Trim();
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The real CLI with <paramref name="args"/>, pointed at this daemon by --data-dir unless told otherwise.</summary>
    internal Task<ProcessResult> CliAsync(params string[] args) =>
        _ns is null ? RemoteCli.RunAsync([.. args, .. DataDirOption]) : _ns.RunAsync(SharpvisorProcess.ExecutablePath, [.. args, .. DataDirOption]);

    /// <summary>The CLI as <see cref="CliAsync"/>; its standard output when it exits 0, else the test fails with all it said.</summary>
    internal async Task<string> CliOkAsync(params string[] args)
    {
        var result = await CliAsync(args);
        Assert.True(result.ExitCode == 0, $"sharpvisor {string.Join(' ', args)}: {result}");
        return result.Stdout;
    }

    /// <summary>A start info for the CLI with <paramref name="args"/> and this daemon's data directory (e.g. a console to drive).</summary>
    internal ProcessStartInfo CliStartInfo(params string[] args) => StartInfo([.. args, .. DataDirOption]);

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    public async Task DisposeAsync()
    {
        if (_serve is null)
        {
            return;
        }

        try
        {
            // Through the CLI, which reaches a daemon inside a namespace as well as one outside.
            var list = await CliAsync("vm", "list", "--json");
            var vms = list.ExitCode == 0 ? JsonSerializer.Deserialize(list.Stdout, ApiJsonContext.Default.IReadOnlyListVmResource)! : [];
            foreach (var vm in vms.Where(vm => vm.State is not ("defined" or "stopped" or "crashed")))
            {
                await CliAsync("vm", "kill", vm.Id.ToString("D"));
            }
        }
        finally
        {
            if (!_serve.HasExited)
            {
                ProcessRunner.Terminate(_serve);
                using var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
                try
                {
                    await _serve.WaitForExitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    _serve.Kill(entireProcessTree: true);
                }
            }

            _serve.Dispose();
            Directory.Delete(DataDirectory, recursive: true);
        }
    }

    /// <summary>`sharpvisor ARGS` with its standard streams redirected, in the namespace when there is one.</summary>
    private ProcessStartInfo StartInfo(string[] args) =>
        _ns?.StartInfo(SharpvisorProcess.ExecutablePath, args) ?? new ProcessStartInfo(SharpvisorProcess.ExecutablePath, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
