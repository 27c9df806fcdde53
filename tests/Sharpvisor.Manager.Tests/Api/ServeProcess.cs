using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>A real <c>sharpvisor serve</c> process on a data directory, with what it printed.</summary>
public sealed class ServeProcess : IDisposable
{
    private readonly List<string> _output = [];

    private ServeProcess(Process process) => Process = process;

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join("\n", _output);
            }
        }
    }

    public static ServeProcess Start(params string[] args) => Start(newSession: false, args);

    /// <param name="newSession">Run it through setsid(1), as the leader of its own process group (a terminal's foreground job).</param>
    /// <param name="args">The arguments after "serve".</param>
    public static ServeProcess Start(bool newSession, params string[] args)
    {
        var start = new ProcessStartInfo(newSession ? "setsid" : TestDaemon.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (newSession)
        {
            start.ArgumentList.Add(TestDaemon.Executable);
        }

        start.ArgumentList.Add("serve");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var serve = new ServeProcess(Process.Start(start)!);
        serve.Process.OutputDataReceived += (_, e) => serve.Add(e.Data);
        serve.Process.ErrorDataReceived += (_, e) => serve.Add(e.Data);
        serve.Process.BeginOutputReadLine();
        serve.Process.BeginErrorReadLine();
        return serve;
    }

    /// <summary>
    /// Waits for the last of the start-up lines ("web UI at", after "token in" and "listening on": all three are checked
    /// below, and a slow host may deliver them apart) and returns a client for the URL in DATA/serve.json, with the token.
    /// </summary>
    public async Task<HttpClient> WaitUntilListeningAsync(string dataDirectory)
    {
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(30));
        while (!Output.Contains("sharpvisor: web UI at http://127.0.0.1:", StringComparison.Ordinal))
        {
            Assert.False(Process.HasExited, $"sharpvisor serve exited with {(Process.HasExited ? Process.ExitCode : 0)}: {Output}");
            Assert.True(DateTime.UtcNow < deadline, $"sharpvisor serve did not listen within 30 s: {Output}");
            await Task.Delay(50);
        }

        var info = JsonSerializer.Deserialize(await File.ReadAllTextAsync(Path.Combine(dataDirectory, "serve.json")), ApiJsonContext.Default.ServeInfo)!;
        Assert.Equal(Process.Id, info.Pid);
        Assert.Contains($"sharpvisor: listening on {info.Url}", Output, StringComparison.Ordinal);
        var token = (await File.ReadAllTextAsync(Path.Combine(dataDirectory, "token"))).Trim();
        Assert.Contains($"{info.Url}/#token={token}", Output, StringComparison.Ordinal);
        var http = new HttpClient { BaseAddress = new Uri(info.Url + "/"), Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(60)) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await Process.WaitForExitAsync(cancel.Token);
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
            Process.WaitForExit();
        }

        Process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }
}
