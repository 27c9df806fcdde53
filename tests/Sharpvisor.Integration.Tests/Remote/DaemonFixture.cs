using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>
/// A real <c>sharpvisor serve</c> process on 127.0.0.1 port 0 with a temporary data directory, for tests that run
/// the real CLI against it. At the end it kills the VMs still running (a daemon's exit leaves them running) and stops.
/// </summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    private readonly StringBuilder _output = new();
    private Process? _serve;

    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("sharpvisor-cli-").FullName;

    /// <summary>The daemon's default storage root (DATA/images, made at its start): where the tests put kernels and images.</summary>
    public string ImagesDirectory => Path.Combine(DataDirectory, "images");

    public string Url { get; private set; } = "";

    public string Token { get; private set; } = "";

    /// <summary>The options that point the CLI at this daemon through its data directory.</summary>
    public string[] DataDirOption => ["--data-dir", DataDirectory];

    public async Task InitializeAsync()
    {
        var start = new ProcessStartInfo(SharpvisorProcess.ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "serve", "--listen", "127.0.0.1:0", "--data-dir", DataDirectory })
        {
            start.ArgumentList.Add(arg);
        }

        _serve = Process.Start(start)!;
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
    internal Task<ProcessResult> CliAsync(params string[] args) => RemoteCli.RunAsync([.. args, .. DataDirOption]);

    public async Task DisposeAsync()
    {
        if (_serve is null)
        {
            return;
        }

        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(Url + "/"), Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(60)) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            var vms = JsonSerializer.Deserialize(await http.GetStringAsync("api/v1/vms"), ApiJsonContext.Default.IReadOnlyListVmResource)!;
            foreach (var vm in vms.Where(vm => vm.State is not ("defined" or "stopped" or "crashed")))
            {
                using var killed = await http.PostAsync($"api/v1/vms/{vm.Id}/kill", null);
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
