using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Sharpvisor.Api;
using Sharpvisor.Control;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Manager.Api;
using Sharpvisor.Manager.Store;
using Xunit.Abstractions;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// /metrics read by a real Prometheus parser: <c>promtool check metrics</c> from Debian's <c>prometheus</c> package
/// (.ci/run installs it), which also lints (HELP, counters ending in _total, units in names).
/// </summary>
public sealed class PrometheusMetricsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private TestDaemon? _daemon;

    private TestDaemon D => _daemon ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync() => _daemon = await TestDaemon.StartAsync(null);

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }

    [Fact]
    public async Task Promtool_accepts_the_metrics_and_they_say_what_the_daemon_holds()
    {
        var one = await D.CreateAsync("m-one");
        var two = await D.CreateAsync("m-two");

        var text = await ScrapeAndCheckAsync();
        foreach (var state in Enum.GetValues<VmState>())
        {
            Assert.Contains($"sharpvisor_vms{{state=\"{state.ToName()}\"}} {(state == VmState.Defined ? 2 : 0)}\n", text, StringComparison.Ordinal);
        }

        Assert.Contains("sharpvisor_memory_committed_bytes 0\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vcpus_committed 0\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_host_cpus {Environment.ProcessorCount}\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_host_memory_bytes {HostFacts.MemInfoMiB("MemTotal") << 20}\n", text, StringComparison.Ordinal);
        Assert.Matches(@"\nsharpvisor_host_memory_available_bytes [1-9]\d*\n", text);
        var kvm = KvmReadiness.Probe();
        Assert.Contains($"sharpvisor_host_kvm_usable {(kvm.Usable ? 1 : 0)}\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_host_kvm_info{{device=\"{kvm.Device}\",backend=\"{kvm.Backend}\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Matches(@"\nsharpvisor_host_storage_free_bytes\{path=""[^""]+/data""\} [1-9]\d*\n", text);
        Assert.Contains($"sharpvisor_build_info{{version=\"{HostApi.Version}\"}} 1\n", text, StringComparison.Ordinal);
        foreach (var vm in new[] { one, two })
        {
            var labels = $"vm=\"{vm.Name}\",id=\"{vm.Id:D}\"";
            Assert.Contains($"sharpvisor_vm_up{{{labels}}} 0\n", text, StringComparison.Ordinal);
            Assert.Contains($"sharpvisor_vm_state{{{labels},state=\"defined\"}} 1\n", text, StringComparison.Ordinal);
            Assert.Contains($"sharpvisor_vm_memory_bytes{{{labels}}} 67108864\n", text, StringComparison.Ordinal);
            Assert.Contains($"sharpvisor_vm_vcpus{{{labels}}} 1\n", text, StringComparison.Ordinal);
        }

        // Nothing runs: the live families are declared but have no samples.
        Assert.DoesNotContain("sharpvisor_vm_uptime_seconds{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("sharpvisor_vm_vcpu_exits_total{", text, StringComparison.Ordinal);
        AssertEveryMetricIsDeclared(text);

        // Series are per scrape: a deleted VM's are gone from the next one.
        using (var deleted = await D.Http.DeleteAsync("api/v1/vms/m-two"))
        {
            Assert.True(deleted.IsSuccessStatusCode, $"delete: {(int)deleted.StatusCode}");
        }

        var after = await ScrapeAndCheckAsync();
        Assert.DoesNotContain(two.Id.ToString("D"), after, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_up{{vm=\"m-one\",id=\"{one.Id:D}\"}} 0\n", after, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vms{state=\"defined\"} 1\n", after, StringComparison.Ordinal);

        // The parser is a real one: a broken exposition is refused.
        var (brokenExit, brokenOutput) = await PromtoolAsync(text + "sharpvisor_vms{state=\"x\" 1\n");
        Assert.True(brokenExit != 0, $"promtool accepted a broken line: {brokenOutput}");
    }

    [KvmFact]
    public async Task A_running_VM_has_vcpu_memory_and_device_series_that_promtool_accepts()
    {
        var disk = Path.Combine(D.Directory, "disk.raw");
        await using (var file = File.Create(disk))
        {
            file.SetLength(1 << 20);
        }

        using var created = await D.Http.PostAsJsonAsync("api/v1/vms", new VmSpec
        {
            Name = "m-run",
            BuiltInGuest = "idle",
            MemoryMiB = 64,
            Vcpus = 2,
            Console = "virtio",
            Disks = [new DiskSpec(disk)],
        }, ApiJsonContext.Default.VmSpec);
        var vm = (await created.Content.ReadFromJsonAsync(ApiJsonContext.Default.VmResource))!;
        await D.CreateAsync("m-idle");
        await D.ActOkAsync("m-run", "start");
        await Task.Delay(200);

        var text = await ScrapeAndCheckAsync();
        var labels = $"vm=\"m-run\",id=\"{vm.Id:D}\"";
        Assert.Contains("sharpvisor_vms{state=\"running\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vms{state=\"defined\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_memory_committed_bytes 67108864\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vcpus_committed 2\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_up{{{labels}}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_state{{{labels},state=\"running\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Matches($@"\nsharpvisor_vm_uptime_seconds\{{{Regex.Escape(labels)}\}} [0-9.e+-]+\n", text);
        Assert.Matches($@"\nsharpvisor_vm_rss_bytes\{{{Regex.Escape(labels)}\}} [1-9][0-9.e+]*\n", text);
        foreach (var vcpu in new[] { "0", "1" })
        {
            Assert.Contains($"sharpvisor_vm_vcpu_exits_total{{{labels},vcpu=\"{vcpu}\"}} ", text, StringComparison.Ordinal);
        }

        // vCPU 0 ran the guest: its exits by reason add up to its total.
        var total = Value(text, $"sharpvisor_vm_vcpu_exits_total{{{labels},vcpu=\"0\"}}");
        Assert.True(total > 0);
        var byReason = Regex.Matches(text, $@"\nsharpvisor_vm_vcpu_exits_by_reason_total\{{{Regex.Escape(labels)},vcpu=""0"",reason=""[a-z0-9_]+""\}} (\S+)")
            .Sum(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(total, byReason);
        // The functions take the PCI slots after the host bridge: the disk, then the console.
        Assert.Contains($"sharpvisor_vm_device_info{{{labels},slot=\"1\",type=\"block\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_device_info{{{labels},slot=\"2\",type=\"console\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_block_requests_completed_total{{{labels},slot=\"1\"}} 0\n", text, StringComparison.Ordinal);
        AssertEveryMetricIsDeclared(text);
        await D.ActOkAsync("m-run", "kill");
    }

    [Fact]
    public async Task Every_family_and_label_values_that_need_escaping_parse()
    {
        // The API allows only [a-z0-9-] names, so the escaping is exercised below the API, with every kind of series.
        var now = DateTimeOffset.UnixEpoch;
        VmEntry Entry(string name, VmState state) => new(
            new VmDefinition { Id = Guid.NewGuid(), Name = name, Vcpus = 2, MemoryMiB = 128 },
            new VmRuntimeState(Guid.Empty, state, null, now, null, null));
        var odd = Entry("quote\" backslash\\ newline\n end", VmState.Running);
        var live = new VmLiveMetrics(
            new StatusResult("running", 42, 1500, 2, 128 << 20),
            new MetricsResult(
                [new VcpuMetrics(0, 7, new Dictionary<string, long> { ["io"] = 5, ["mmio"] = 2 }), new VcpuMetrics(1, 0, new Dictionary<string, long>())],
                7,
                new Dictionary<string, long> { ["int3"] = 1 },
                31457280,
                [
                    new DeviceMetrics(1, "block", new Dictionary<string, long> { ["completed"] = 120 }),
                    new DeviceMetrics(2, "net", new Dictionary<string, long> { ["rx_frames"] = 4, ["tx_frames"] = 9, ["tx_dropped"] = 1 }),
                    new DeviceMetrics(3, "rng", new Dictionary<string, long> { ["bytes \"new\""] = 64 }),
                ]));
        var kvm = new KvmReadiness("/dev/k\"vm", false, false, "none", "gone");
        var scrape = new MetricsScrape(
            new HostSample("0.12.0", 2, 1L << 30, 1L << 29, kvm, new StorageRootResource("/tmp/a\\b\"c\nd", 1 << 20, 1 << 21)),
            [new VmSample(odd, live), new VmSample(Entry("failed-one", VmState.Failed), null)]);

        using var stream = new MemoryStream();
        await PrometheusExposition.WriteAsync(scrape, stream, CancellationToken.None);
        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        output.WriteLine(text);
        await AssertPromtoolAcceptsAsync(text);

        var labels = $"vm=\"quote\\\" backslash\\\\ newline\\n end\",id=\"{odd.Definition.Id:D}\"";
        Assert.Contains($"sharpvisor_vm_up{{{labels}}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_vcpu_exits_by_reason_total{{{labels},vcpu=\"0\",reason=\"io\"}} 5\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_emulation_assists_total{{{labels},instruction=\"int3\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_net_tx_dropped_frames_total{{{labels},slot=\"2\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"sharpvisor_vm_device_events_total{{{labels},slot=\"3\",type=\"rng\",counter=\"bytes \\\"new\\\"\"}} 64\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_host_storage_size_bytes{path=\"/tmp/a\\\\b\\\"c\\nd\"} 2097152\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_vms{state=\"failed\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("sharpvisor_memory_committed_bytes 134217728\n", text, StringComparison.Ordinal);
        AssertEveryMetricIsDeclared(text);
    }

    /// <summary>GETs /metrics, writes it to a file beside the daemon's data and has promtool read that file.</summary>
    private async Task<string> ScrapeAndCheckAsync()
    {
        using var response = await D.Http.GetAsync("metrics");
        Assert.True(response.IsSuccessStatusCode, $"/metrics: {(int)response.StatusCode}");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine(text);
        await AssertPromtoolAcceptsAsync(text);
        return text;
    }

    private async Task AssertPromtoolAcceptsAsync(string text)
    {
        var file = Path.Combine(D.Directory, "metrics.prom");
        await File.WriteAllTextAsync(file, text);
        var (exitCode, problems) = await PromtoolAsync(text);
        output.WriteLine($"promtool check metrics < {file}: exit {exitCode}, output: [{problems}]");
        Assert.True(exitCode == 0 && problems.Length == 0, $"promtool check metrics exited {exitCode}:\n{problems}\n--- the metrics:\n{text}");
    }

    /// <summary>Every sample's metric has one HELP and one TYPE line, and the counters end in _total.</summary>
    private static void AssertEveryMetricIsDeclared(string text)
    {
        var lines = text.Split('\n');
        foreach (var name in lines.Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split('{', ' ')[0]).Distinct())
        {
            Assert.Single(lines, l => l.StartsWith($"# HELP {name} ", StringComparison.Ordinal));
            Assert.Single(lines, l => l.StartsWith($"# TYPE {name} ", StringComparison.Ordinal));
        }

        foreach (var type in lines.Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')))
        {
            Assert.True(type[3] != "counter" || type[2].EndsWith("_total", StringComparison.Ordinal), $"counter {type[2]} does not end in _total");
        }
    }

    private static double Value(string text, string series)
    {
        var line = text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs <c>promtool check metrics</c> with <paramref name="metrics"/> on its standard input.</summary>
    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string metrics)
    {
        var promtool = Environment.GetEnvironmentVariable("PATH")!.Split(':').Append("/usr/bin")
            .Select(d => Path.Combine(d, "promtool")).FirstOrDefault(File.Exists);
        Assert.True(promtool is not null, "promtool is missing: install Debian's package 'prometheus' (apt-get install prometheus; .ci/run does)");
        var start = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(60)));
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, (await stdout + await stderr).Trim());
    }
}
