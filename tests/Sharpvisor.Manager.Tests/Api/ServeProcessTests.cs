using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Sharpvisor.Api;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>The real <c>sharpvisor serve</c> binary: its command line, its shutdown, and a kill -9 of it with VMs running.</summary>
public sealed class ServeProcessTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("svp-").FullName;

    private string DataDirectory => Path.Combine(_directory, "data");

    public void Dispose()
    {
        TestDaemon.KillLeftovers(Path.Combine(DataDirectory, "run"));
        Directory.Delete(_directory, recursive: true);
    }

    private ServeProcess Serve() => ServeProcess.Start("--listen", "127.0.0.1:0", "--data-dir", DataDirectory);

    private static async Task<VmResource> ActAsync(HttpClient http, string vm, string action)
    {
        using var response = await http.PostAsync($"api/v1/vms/{vm}/{action}", null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{action}: {(int)response.StatusCode} {body}");
        return System.Text.Json.JsonSerializer.Deserialize(body, ApiJsonContext.Default.VmResource)!;
    }

    [KvmFact]
    public async Task After_a_kill_9_of_the_daemon_a_new_one_re_attaches_to_the_running_VM()
    {
        int pid;
        using (var first = Serve())
        {
            using var http = await first.WaitUntilListeningAsync(DataDirectory);
            // The default VM of an empty inventory.
            var testguest = (await http.GetFromJsonAsync("api/v1/vms/testguest", ApiJsonContext.Default.VmResource))!;
            Assert.Equal(("defined", 64, 1), (testguest.State, testguest.MemoryMiB, testguest.Vcpus));

            using var created = await http.PostAsJsonAsync("api/v1/vms", new VmSpec { Name = "survivor", BuiltInGuest = "idle", MemoryMiB = 64 }, ApiJsonContext.Default.VmSpec);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            pid = (await ActAsync(http, "survivor", "start")).Pid!.Value;
            using var acknowledged = await http.PostAsJsonAsync("api/v1/vms", new VmSpec { Name = "acknowledged", BuiltInGuest = "hello" }, ApiJsonContext.Default.VmSpec);
            Assert.Equal(HttpStatusCode.Created, acknowledged.StatusCode);

            first.Process.Kill(); // SIGKILL: no clean shutdown at all
            await first.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(10)));
        }

        Assert.NotNull(ProcessProbe.StartTime(pid));
        using var second = Serve();
        using var again = await second.WaitUntilListeningAsync(DataDirectory);
        var survivor = (await again.GetFromJsonAsync("api/v1/vms/survivor", ApiJsonContext.Default.VmResource))!;
        Assert.Equal(("running", pid), (survivor.State, survivor.Pid));
        var names = (await again.GetFromJsonAsync("api/v1/vms", ApiJsonContext.Default.IReadOnlyListVmResource))!.Select(v => v.Name);
        Assert.Equal(["acknowledged", "survivor", "testguest"], names);
        var events = (await again.GetFromJsonAsync("api/v1/vms/survivor/events", ApiJsonContext.Default.IReadOnlyListEventResource))!;
        Assert.Contains(events, e => e.Kind == "supervisor" && e.Message.Contains($"adopted VMM process {pid}", StringComparison.Ordinal));

        // Controllable through the new daemon.
        Assert.Equal("paused", (await ActAsync(again, "survivor", "pause")).State);
        Assert.Equal("running", (await ActAsync(again, "survivor", "resume")).State);
        Assert.Equal("stopped", (await ActAsync(again, "survivor", "stop")).State);
        Assert.Null(ProcessProbe.StartTime(pid));
    }

    [KvmFact]
    public async Task SIGTERM_stops_the_daemon_cleanly_and_leaves_the_VM_running()
    {
        using var serve = Serve();
        using var http = await serve.WaitUntilListeningAsync(DataDirectory);
        var pid = (await ActAsync(http, "testguest", "start")).Pid!.Value;

        Posix.Terminate(serve.Process.Id);

        Assert.Equal(0, await serve.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(20))));
        Assert.False(File.Exists(Path.Combine(DataDirectory, "serve.json")));
        Assert.NotNull(ProcessProbe.StartTime(pid));
        var token = new FileInfo(Path.Combine(DataDirectory, "token"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, token.UnixFileMode);
        Assert.Equal(64, (await File.ReadAllTextAsync(token.FullName)).Trim().Length);
    }

    [KvmFact]
    public async Task Ctrl_C_at_the_terminal_stops_the_daemon_but_not_the_VMs()
    {
        // A terminal's Ctrl-C is SIGINT to the whole foreground process group.
        using var serve = ServeProcess.Start(newSession: true, "--listen", "127.0.0.1:0", "--data-dir", DataDirectory);
        using var http = await serve.WaitUntilListeningAsync(DataDirectory);
        var pid = (await ActAsync(http, "testguest", "start")).Pid!.Value;

        Posix.Signal("-INT", -serve.Process.Id);

        Assert.Equal(0, await serve.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(20))));
        await Task.Delay(300);
        Assert.NotNull(ProcessProbe.StartTime(pid));
    }

    [Theory]
    [InlineData("--listen", "nope")]
    [InlineData("--listen", "127.0.0.1:99999")]
    [InlineData("--bogus")]
    [InlineData("--data-dir")]
    public async Task Bad_flags_exit_2_with_one_line(params string[] args)
    {
        using var serve = ServeProcess.Start(args);
        Assert.Equal(2, await serve.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(20))));
        var line = Assert.Single(serve.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("sharpvisor: error: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_in_use_exits_1_with_one_line()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;

        using var serve = ServeProcess.Start("--listen", $"127.0.0.1:{port}", "--data-dir", DataDirectory);
        Assert.Equal(1, await serve.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30))));
        var line = Assert.Single(serve.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"sharpvisor: error: cannot listen on 127.0.0.1:{port}: Address already in use", line);
    }

    [Fact]
    public async Task Serve_warns_at_start_when_VMs_cannot_start_here_or_the_API_is_open_to_the_network()
    {
        // Whether this host's KVM opens, as the test sees it: the daemon must agree.
        var kvmUsable = true;
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            kvmUsable = false;
        }

        using (var local = Serve())
        {
            using var http = await local.WaitUntilListeningAsync(DataDirectory);
            Assert.DoesNotContain("plain HTTP", local.Output, StringComparison.Ordinal);
            Assert.Equal(!kvmUsable, local.Output.Contains("sharpvisor: warning: VMs cannot start on this host: /dev/kvm", StringComparison.Ordinal));
            Posix.Terminate(local.Process.Id);
            Assert.Equal(0, await local.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30))));
        }

        // Beyond loopback: HTTPS, and no warning; plain HTTP only when forced, and then with the warning.
        using (var tls = ServeProcess.Start("--listen", "0.0.0.0:0", "--data-dir", DataDirectory))
        {
            await WaitForStartupLinesAsync(tls);
            Assert.Contains("listening on https://127.0.0.1:", tls.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("plain HTTP", tls.Output, StringComparison.Ordinal);
            Posix.Terminate(tls.Process.Id);
            Assert.Equal(0, await tls.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30))));
        }

        using var open = ServeProcess.Start("--listen", "0.0.0.0:0", "--insecure-http", "--data-dir", DataDirectory);
        await WaitForStartupLinesAsync(open);
        Assert.Contains("sharpvisor: warning: 0.0.0.0:", open.Output, StringComparison.Ordinal);
        Assert.Contains("serves plain HTTP beyond this host", open.Output, StringComparison.Ordinal);
    }

    private static async Task WaitForStartupLinesAsync(ServeProcess serve)
    {
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(30));
        while (!serve.Output.Contains("sharpvisor: web UI at", StringComparison.Ordinal))
        {
            Assert.False(serve.Process.HasExited, serve.Output);
            Assert.True(DateTime.UtcNow < deadline, $"no start-up lines within 30 s: {serve.Output}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_data_directory_exits_1()
    {
        using var first = Serve();
        using var http = await first.WaitUntilListeningAsync(DataDirectory);
        using var second = Serve();
        Assert.Equal(1, await second.WaitForExitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30))));
        var line = Assert.Single(second.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"sharpvisor: error: another sharpvisor serve is using {DataDirectory}", line, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/v1/vms")).StatusCode);
    }
}

internal static class Posix
{
    /// <summary>Sends SIGTERM with kill(1): this test project has no unsafe code for a P/Invoke.</summary>
    public static void Terminate(int pid) => Signal("-TERM", pid);

    /// <summary>kill -SIGNAL PID (a negative pid: the process group).</summary>
    public static void Signal(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [signal, "--", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
