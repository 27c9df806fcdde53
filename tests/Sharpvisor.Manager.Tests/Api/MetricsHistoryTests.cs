using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Sharpvisor.Api;
using Sharpvisor.Manager.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>
/// The metrics history (GET /api/v1/host/history, /api/v1/vms/{vm}/history) of a real daemon sampling every 200 ms:
/// the host's CPU and memory from /proc, a running VMM's CPU time, RSS, exits and device counters, bounded to 720
/// samples, and a VM's series gone with the VM.
/// </summary>
public sealed class MetricsHistoryTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private TestDaemon? _daemon;

    private TestDaemon D => _daemon ?? throw new InvalidOperationException("not initialized");

    public async Task InitializeAsync() => _daemon = await TestDaemon.StartAsync(null, defineDefaultVm: true, metricsSampleInterval: Interval);

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_host_history_has_cpu_and_memory_samples_from_proc_every_interval()
    {
        var history = await WaitForAsync(
            () => D.Http.GetFromJsonAsync("api/v1/host/history", ApiJsonContext.Default.HostHistoryResource),
            h => h!.CpuPercent.Count(c => c is not null) >= 3);

        Assert.Equal(Interval.TotalSeconds, history!.IntervalSeconds);
        Assert.Equal(Environment.ProcessorCount, history.Cpus);
        Assert.Equal(HostFacts.MemInfoMiB("MemTotal"), history.MemoryTotalMiB);
        Assert.Equal(history.TimestampsMs.Count, history.CpuPercent.Count);
        Assert.Equal(history.TimestampsMs.Count, history.MemoryUsedMiB.Count);
        // Oldest first, about one interval apart, and recent.
        Assert.True(history.TimestampsMs.Zip(history.TimestampsMs.Skip(1)).All(p => p.Second > p.First), string.Join(",", history.TimestampsMs));
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - history.TimestampsMs[^1], -1000, (long)TestTime.Ceiling(TimeSpan.FromSeconds(10)).TotalMilliseconds);
        // The first sample has no CPU use yet (a rate needs two); the others are shares of all CPUs.
        Assert.Null(history.CpuPercent[0]);
        Assert.All(history.CpuPercent.Skip(1).Where(c => c is not null), c => Assert.InRange(c!.Value, 0, 100));
        Assert.All(history.MemoryUsedMiB, m => Assert.InRange(m!.Value, 1, history.MemoryTotalMiB));

        // Busy CPUs show: this process keeps one core busy for a few intervals; some sample sees it.
        var busyUntil = Stopwatch.StartNew();
        var busy = Task.Run(() =>
        {
            var x = 0L;
            while (busyUntil.Elapsed < Interval * 8)
            {
                x++;
            }

            return x;
        });
        var since = history.TimestampsMs[^1];
        await busy;
        var after = await WaitForAsync(
            () => D.Http.GetFromJsonAsync("api/v1/host/history", ApiJsonContext.Default.HostHistoryResource),
            h => h!.TimestampsMs.Count(t => t > since) >= 4);
        var busiest = after!.TimestampsMs.Select((t, i) => (t, c: after.CpuPercent[i])).Where(p => p.t > since).Max(p => p.c ?? 0);
        Assert.True(busiest >= 100.0 / Environment.ProcessorCount / 2, $"the busiest sample while a core spun: {busiest}%");

        // A window: only the samples of the last second.
        var recent = await D.Http.GetFromJsonAsync("api/v1/host/history?seconds=1", ApiJsonContext.Default.HostHistoryResource);
        Assert.True(recent!.TimestampsMs.Count <= 1000 / Interval.TotalMilliseconds + 2, $"{recent.TimestampsMs.Count} samples in 1 s");
        Assert.All(recent.TimestampsMs, t => Assert.True(t >= recent.TimestampsMs[^1] - 1500));
    }

    [Fact]
    public async Task A_window_out_of_range_is_a_400_naming_it_and_an_unknown_vm_is_a_404()
    {
        foreach (var path in new[] { "api/v1/host/history?seconds=0", "api/v1/host/history?seconds=3601", "api/v1/vms/testguest/history?seconds=-5" })
        {
            using var response = await D.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("\"seconds\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var unknown = await D.Http.GetAsync("api/v1/vms/ghost/history");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var anonymous = D.NewClient(null);
        using var refused = await anonymous.GetAsync("api/v1/host/history");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        // A VM that never ran: empty series, and no disk or network series at all.
        var vm = await D.CreateAsync("never-ran");
        var history = await D.Http.GetFromJsonAsync($"api/v1/vms/{vm.Id}/history", ApiJsonContext.Default.VmHistoryResource);
        Assert.Equal(vm.Id, history!.Id);
        Assert.Empty(history.TimestampsMs);
        Assert.Empty(history.CpuPercent);
        Assert.Null(history.DiskOpsPerSecond);
        Assert.Null(history.NetRxFramesPerSecond);
    }

    [KvmFact]
    public async Task A_running_vm_has_its_vmm_cpu_time_rss_uptime_and_disk_counters_and_a_spinning_one_is_busy()
    {
        // A spinning vCPU (interrupts off, a pause loop) keeps a host CPU busy: the VMM process's utime+stime shows it.
        var disk = Path.Combine(D.Directory, "disk.raw");
        await File.WriteAllBytesAsync(disk, new byte[1 << 20]);
        using (var create = await D.Http.PostAsJsonAsync("api/v1/vms",
            new VmSpec { Name = "spinner", BuiltInGuest = "spin", MemoryMiB = 64, Disks = [new DiskSpec(disk)] }, ApiJsonContext.Default.VmSpec))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        var started = await D.ActOkAsync("spinner", "start");
        Assert.Equal("running", started.State);

        var history = await WaitForAsync(
            () => D.Http.GetFromJsonAsync("api/v1/vms/spinner/history", ApiJsonContext.Default.VmHistoryResource),
            h => h!.CpuPercent.Count(c => c is not null) >= 4);
        Assert.Equal(started.Id, history!.Id);
        var count = history.TimestampsMs.Count;
        Assert.All(new[] { history.CpuPercent.Count, history.RssBytes.Count, history.UptimeSeconds.Count, history.VcpuExitsPerSecond.Count }, c => Assert.Equal(count, c));
        var cpu = history.CpuPercent.Where(c => c is not null).Select(c => c!.Value).ToList();
        Assert.True(cpu.Max() >= 30, $"a spinning vCPU's VMM used at most {cpu.Max()}% of a CPU: {string.Join(", ", cpu)}");
        Assert.All(cpu, c => Assert.InRange(c, 0, 100.0 * Environment.ProcessorCount + 10));
        // RSS as the VMM reports it (VmRSS), uptime growing with the samples.
        Assert.All(history.RssBytes.Where(r => r is not null), r => Assert.InRange(r!.Value, 1 << 20, 4L << 30));
        var uptimes = history.UptimeSeconds.Where(u => u is not null).Select(u => u!.Value).ToList();
        Assert.True(uptimes.Count >= 4 && uptimes[^1] > uptimes[0], string.Join(", ", uptimes));
        // Its virtio-blk device: a disk series (the spinning guest never touches it: 0 requests a second).
        Assert.NotNull(history.DiskOpsPerSecond);
        Assert.Equal(count, history.DiskOpsPerSecond!.Count);
        Assert.Contains(history.DiskOpsPerSecond, d => d == 0);
        Assert.Null(history.NetRxFramesPerSecond);

        // Stopped: its samples stay (the page still shows its last hour); no new ones come.
        await D.ActOkAsync("spinner", "stop");
        var stopped = await D.Http.GetFromJsonAsync("api/v1/vms/spinner/history", ApiJsonContext.Default.VmHistoryResource);
        Assert.True(stopped!.TimestampsMs.Count >= count, $"{stopped.TimestampsMs.Count} < {count}");
        await WaitForAsync(
            () => D.Http.GetFromJsonAsync("api/v1/host/history", ApiJsonContext.Default.HostHistoryResource),
            h => h!.TimestampsMs.Count(t => t > stopped.TimestampsMs[^1]) >= 3);
        var later = await D.Http.GetFromJsonAsync("api/v1/vms/spinner/history", ApiJsonContext.Default.VmHistoryResource);
        Assert.Equal(stopped.TimestampsMs, later!.TimestampsMs);
    }

    [KvmFact]
    public async Task A_vms_series_goes_when_the_vm_is_deleted()
    {
        var vm = await D.CreateAsync("short-lived");
        await D.ActOkAsync("short-lived", "start");
        // A second sampler over the daemon's own store and supervisor, driven by hand: one sample of the running VM.
        using var history = new MetricsHistory(D.Daemon.Store, D.Daemon.Supervisor, new ManagerOptions { DataDirectory = D.Directory, MetricsSampleInterval = Interval },
            NullLogger<MetricsHistory>.Instance);
        await history.SampleAsync(CancellationToken.None);
        Assert.True(history.HasSeries(vm.Id));
        Assert.Single(history.Vm(vm.Id).TimestampsMs);

        await D.ActOkAsync("short-lived", "stop");
        using (var delete = await D.Http.DeleteAsync("api/v1/vms/short-lived"))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }

        await history.SampleAsync(CancellationToken.None);
        Assert.False(history.HasSeries(vm.Id));
        Assert.Empty(history.Vm(vm.Id).TimestampsMs);
        // And the daemon's own: the API no longer knows the VM, and its sampler drops it at its next round.
        using var gone = await D.Http.GetAsync($"api/v1/vms/{vm.Id}/history");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task At_most_720_samples_are_kept_and_none_older_than_720_intervals()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        using var history = new MetricsHistory(D.Daemon.Store, D.Daemon.Supervisor, new ManagerOptions { DataDirectory = D.Directory, MetricsSampleInterval = Interval },
            NullLogger<MetricsHistory>.Instance, clock);
        Assert.Equal(Interval * MetricsHistory.Capacity, history.Window);
        for (var i = 0; i < MetricsHistory.Capacity + 80; i++)
        {
            await history.SampleAsync(CancellationToken.None);
            clock.Advance(Interval / 4);
        }

        var host = history.Host();
        Assert.Equal(MetricsHistory.Capacity, host.TimestampsMs.Count);
        Assert.Equal(MetricsHistory.Capacity, host.CpuPercent.Count);

        // Samples older than the window go even when fewer than 720 are kept.
        clock.Advance(history.Window - (Interval * 10));
        await history.SampleAsync(CancellationToken.None);
        var trimmed = history.Host();
        Assert.InRange(trimmed.TimestampsMs.Count, 2, 50);
        Assert.All(trimmed.TimestampsMs, t => Assert.True(t >= clock.GetUtcNow().ToUnixTimeMilliseconds() - (long)history.Window.TotalMilliseconds));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("cpu")]
    [InlineData("cpu  1 2 x 4 5 6 7 8")]
    [InlineData("cpu  -1 2 3 4 5 6 7 8")]
    [InlineData("cpu  99999999999999999999999 2 3 4")]
    [InlineData("intr 1 2 3\ncpu  1 2 3 4")]
    public void Proc_stat_text_that_is_not_understood_gives_no_cpu_figure(string? text) =>
        Assert.Null(MetricsHistory.ProcFiles.HostCpu(text));

    [Fact]
    public void Proc_files_are_parsed_as_the_kernel_writes_them()
    {
        Assert.Equal((10132153L + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 0, 46828483L + 16683),
            MetricsHistory.ProcFiles.HostCpu("cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"));
        Assert.Equal((15935L, 12000L), MetricsHistory.ProcFiles.MemInfo("MemTotal:       16318412 kB\nMemFree:  1 kB\nMemAvailable:   12288000 kB\n"));
        Assert.Null(MetricsHistory.ProcFiles.MemInfo("MemTotal: 100 kB\n"));
        Assert.Null(MetricsHistory.ProcFiles.MemInfo("MemTotal: 102400 kB\nMemAvailable: 204800 kB\n"));
        Assert.Null(MetricsHistory.ProcFiles.MemInfo("MemTotal: lots\nMemAvailable: 1 kB\n"));

        // A comm with spaces and parentheses; utime 120 and stime 30 are fields 14 and 15.
        const string Stat = "4242 (sharp) visor (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 120 30 0 0 20 0 5 0 777 1000 50 18446744073709551615";
        Assert.Equal(150, MetricsHistory.ProcFiles.ProcessCpuTicks(Stat));
        Assert.Null(MetricsHistory.ProcFiles.ProcessCpuTicks("4242 (truncated) S 1 2"));
        Assert.Null(MetricsHistory.ProcFiles.ProcessCpuTicks("no parenthesis at all"));
        Assert.Null(MetricsHistory.ProcFiles.ProcessCpuTicks(null));

        // This process's own stat: the real file's layout.
        var own = MetricsHistory.ReadProcFile($"/proc/{Environment.ProcessId}/stat");
        Assert.NotNull(MetricsHistory.ProcFiles.ProcessCpuTicks(own));
        Assert.Null(MetricsHistory.ReadProcFile("/proc/999999999/stat"));
        Assert.NotNull(MetricsHistory.ProcFiles.HostCpu(MetricsHistory.ReadProcFile("/proc/stat")));
        Assert.NotNull(MetricsHistory.ProcFiles.MemInfo(MetricsHistory.ReadProcFile("/proc/meminfo")));
    }

    /// <summary>Reads until <paramref name="done"/> holds, with a generous ceiling (a loaded, emulated host is slow).</summary>
    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = Stopwatch.StartNew();
        var ceiling = TestTime.Ceiling(TimeSpan.FromSeconds(30));
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            Assert.True(deadline.Elapsed < ceiling, $"not reached within {ceiling}: {System.Text.Json.JsonSerializer.Serialize(value, typeof(T), ApiJsonContext.Default)}");
            await Task.Delay(Interval / 2);
        }
    }
}
