using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The last hour of metrics, in memory, for the UI's charts (GET /api/v1/host/history, /api/v1/vms/{vm}/history).
/// Every <see cref="ManagerOptions.MetricsSampleInterval"/> it samples the host's CPU use (/proc/stat) and memory
/// (/proc/meminfo), and each running or paused VM: what its VMM's control socket says (uptime, vCPU exits, RSS, block
/// and net device counters when it has such devices) and the VMM process's CPU time (/proc/PID/stat utime+stime, since
/// the VMM itself does not report one). At most <see cref="Capacity"/> samples per series, none older than
/// Capacity x interval; a VM's series goes with the VM. Nothing here is persisted: a restarted daemon starts empty.
/// </summary>
public sealed class MetricsHistory : BackgroundService
{
    /// <summary>Samples kept per series: an hour at the default interval of 5 s.</summary>
    public const int Capacity = 720;

    // /proc reports CPU times in USER_HZ, which the kernel fixes at 100 on x86 (the only architecture the VMM runs on);
    // sysconf(_SC_CLK_TCK) returns the same constant.
    private const double UserHz = 100;

    // The files read are a few hundred bytes to a few KiB; a longer read is cut there, never buffered whole.
    private const int MaxProcFileBytes = 64 * 1024;

    // A VMM that hangs costs one of these its control timeout (3 s); the others go on.
    private const int MaxParallelReads = 8;

    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(10);

    private readonly IVmStore _store;
    private readonly VmSupervisor _supervisor;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Guid, VmSeries> _vms = new();
    private readonly HostSeries _host = new();

    public MetricsHistory(IVmStore store, VmSupervisor supervisor, ManagerOptions options, ILogger<MetricsHistory> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.MetricsSampleInterval, TimeSpan.Zero);
        _store = store;
        _supervisor = supervisor;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Interval = options.MetricsSampleInterval;
    }

    public TimeSpan Interval { get; }

    /// <summary>How far back samples are kept: <see cref="Capacity"/> intervals.</summary>
    public TimeSpan Window => Interval * Capacity;

    /// <summary>Whether a series is kept for the VM (tests: it goes when the VM is deleted).</summary>
    internal bool HasSeries(Guid vmId) => _vms.ContainsKey(vmId);

    /// <summary>The host's samples of the last <paramref name="window"/> (null: all kept).</summary>
    public HostHistoryResource Host(TimeSpan? window = null) => _host.Snapshot(Since(window), Interval);

    /// <summary>The VM's samples of the last <paramref name="window"/> (null: all kept); empty arrays when it never ran here.</summary>
    public VmHistoryResource Vm(Guid vmId, TimeSpan? window = null) =>
        _vms.TryGetValue(vmId, out var series) ? series.Snapshot(vmId, Since(window), Interval) : VmSeries.Empty(vmId, Interval);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not on the caller's thread: the host's start must not wait for the first sample.
        await Task.Yield();
        using var timer = new PeriodicTimer(Interval, _time);
        do
        {
            try
            {
                await SampleAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A failed sample (a store that does not answer, a /proc surprise) must not end the sampler: an
                // exception out of a BackgroundService would stop the whole daemon.
                LogSampleFailed(_logger, e.Message, e);
            }
        }
        while (await WaitAsync(timer, stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One round: the host, then every running or paused VM in parallel; drops the series of deleted VMs and samples too old.</summary>
    internal async Task SampleAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var timestamp = _time.GetTimestamp();
        _host.Add(now, timestamp, ProcFiles.HostCpu(ReadProcFile("/proc/stat")), ProcFiles.MemInfo(ReadProcFile("/proc/meminfo")));

        IReadOnlyList<VmEntry> entries;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(StoreTimeout);
            entries = await _store.ListAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
        }

        var defined = entries.Select(e => e.Definition.Id).ToHashSet();
        var running = _supervisor.List().Where(s => s.State is VmState.Running or VmState.Paused && defined.Contains(s.VmId)).ToList();
        await Parallel.ForEachAsync(running, new ParallelOptions { MaxDegreeOfParallelism = MaxParallelReads, CancellationToken = cancellationToken }, async (status, token) =>
        {
            var live = await VmLiveMetrics.ReadAsync(_supervisor, status.VmId, token).ConfigureAwait(false);
            // The supervisor's pid is the one in this pid namespace; the VMM's own answer is the fallback.
            var pid = status.Pid ?? live?.Status.Pid;
            // The rate's clock is read with the counter, not at the round's start: the store and control round trips
            // before it take a varying time on a loaded host, which would inflate or deflate the CPU share.
            var readAt = _time.GetTimestamp();
            var cpuTicks = pid is { } p ? ProcFiles.ProcessCpuTicks(ReadProcFile($"/proc/{p.ToString(CultureInfo.InvariantCulture)}/stat")) : null;
            // Neither answered: it stopped since the list was taken. A VMM that hangs still has its CPU time to show.
            if (live is null && cpuTicks is null)
            {
                return;
            }

            _vms.GetOrAdd(status.VmId, _ => new VmSeries()).Add(_time, now, readAt, pid, cpuTicks, live);
        }).ConfigureAwait(false);

        var oldest = now - Window;
        _host.Trim(oldest);
        foreach (var (id, series) in _vms)
        {
            // Deleted: its numbers go with it. Stopped for an hour: nothing is left to show.
            if (!defined.Contains(id) || series.Trim(oldest) == 0)
            {
                _vms.TryRemove(id, out _);
            }
        }
    }

    private DateTimeOffset Since(TimeSpan? window) => _time.GetUtcNow() - (window is { } w && w < Window ? w : Window);

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The start of a /proc file (at most <see cref="MaxProcFileBytes"/>); null when it cannot be read (a process gone).</summary>
    internal static string? ReadProcFile(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
            var buffer = ArrayPool<byte>.Shared.Rent(MaxProcFileBytes);
            try
            {
                var count = 0;
                int read;
                while (count < MaxProcFileBytes && (read = file.Read(buffer, count, MaxProcFileBytes - count)) > 0)
                {
                    count += read;
                }

                return Encoding.ASCII.GetString(buffer, 0, count);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static readonly Action<ILogger, string, Exception?> LogSampleFailedMessage =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(1, "MetricsSampleFailed"), "metrics history: a sample failed: {Message}");

    private static void LogSampleFailed(ILogger logger, string message, Exception e) => LogSampleFailedMessage(logger, message, e);

    private static double? Rate(long? now, long? before, double seconds) =>
        now is { } n && before is { } b && n >= b && seconds > 0 ? (n - b) / seconds : null;

    private static double Round(double value) => Math.Round(value, 2);

    /// <summary>The host's series: CPU use over all its CPUs, memory in use (MemTotal - MemAvailable).</summary>
    private sealed class HostSeries
    {
        private readonly Lock _lock = new();
        private readonly Queue<HostPoint> _points = new();
        private (long Total, long Idle)? _lastCpu;
        private long _memoryTotalMiB;

        public void Add(DateTimeOffset now, long timestamp, (long Total, long Idle)? cpu, (long TotalMiB, long AvailableMiB)? memory)
        {
            lock (_lock)
            {
                double? cpuPercent = null;
                if (cpu is { } c && _lastCpu is { } last && c.Total > last.Total && c.Idle >= last.Idle)
                {
                    cpuPercent = Round(Math.Clamp(100.0 * (1 - (double)(c.Idle - last.Idle) / (c.Total - last.Total)), 0, 100));
                }

                _lastCpu = cpu ?? _lastCpu;
                if (memory is { } m)
                {
                    _memoryTotalMiB = m.TotalMiB;
                }

                Push(_points, new HostPoint(now.ToUnixTimeMilliseconds(), cpuPercent, memory is { } used ? used.TotalMiB - used.AvailableMiB : null));
            }
        }

        public void Trim(DateTimeOffset oldest)
        {
            lock (_lock)
            {
                TrimOlder(_points, oldest.ToUnixTimeMilliseconds(), p => p.TimeMs);
            }
        }

        public HostHistoryResource Snapshot(DateTimeOffset since, TimeSpan interval)
        {
            HostPoint[] points;
            long total;
            lock (_lock)
            {
                var from = since.ToUnixTimeMilliseconds();
                points = [.. _points.Where(p => p.TimeMs >= from)];
                total = _memoryTotalMiB;
            }

            return new HostHistoryResource
            {
                IntervalSeconds = interval.TotalSeconds,
                Cpus = Environment.ProcessorCount,
                MemoryTotalMiB = total,
                TimestampsMs = [.. points.Select(p => p.TimeMs)],
                CpuPercent = [.. points.Select(p => p.CpuPercent)],
                MemoryUsedMiB = [.. points.Select(p => p.MemoryUsedMiB)],
            };
        }
    }

    /// <summary>One VM's series, and the raw counters of its last sample that the next one's rates are computed from.</summary>
    private sealed class VmSeries
    {
        private readonly Lock _lock = new();
        private readonly Queue<VmPoint> _points = new();
        private VmCounters? _last;

        public static VmHistoryResource Empty(Guid id, TimeSpan interval) => new()
        {
            Id = id,
            IntervalSeconds = interval.TotalSeconds,
            TimestampsMs = [],
            CpuPercent = [],
            RssBytes = [],
            UptimeSeconds = [],
            VcpuExitsPerSecond = [],
        };

        public void Add(TimeProvider time, DateTimeOffset now, long timestamp, int? pid, long? cpuTicks, VmLiveMetrics? live)
        {
            var counters = new VmCounters(
                timestamp,
                pid,
                cpuTicks,
                live?.Metrics.TotalExits,
                DeviceSum(live, "block", "completed"),
                DeviceSum(live, "net", "rx_frames"),
                DeviceSum(live, "net", "tx_frames"));
            lock (_lock)
            {
                // Rates only against the same VMM process: a restart begins its counters at zero.
                var last = _last is { } l && l.Pid == pid && pid is not null ? l : (VmCounters?)null;
                var seconds = last is { } before ? time.GetElapsedTime(before.Timestamp, timestamp).TotalSeconds : 0;
                var cpuPerSecond = Rate(cpuTicks, last?.CpuTicks, seconds);
                Push(_points, new VmPoint(
                    now.ToUnixTimeMilliseconds(),
                    cpuPerSecond is { } ticks ? Round(ticks / UserHz * 100) : null,
                    live?.Metrics.RssBytes,
                    live is null ? null : Round(live.Status.UptimeMs / 1000.0),
                    Rate(counters.Exits, last?.Exits, seconds) is { } exits ? Round(exits) : null,
                    Rate(counters.DiskCompleted, last?.DiskCompleted, seconds) is { } disk ? Round(disk) : null,
                    Rate(counters.NetRx, last?.NetRx, seconds) is { } rx ? Round(rx) : null,
                    Rate(counters.NetTx, last?.NetTx, seconds) is { } tx ? Round(tx) : null,
                    counters.DiskCompleted is not null,
                    counters.NetRx is not null));
                _last = counters;
            }
        }

        /// <summary>Drops samples older than <paramref name="oldest"/>; returns how many are left.</summary>
        public int Trim(DateTimeOffset oldest)
        {
            lock (_lock)
            {
                TrimOlder(_points, oldest.ToUnixTimeMilliseconds(), p => p.TimeMs);
                return _points.Count;
            }
        }

        public VmHistoryResource Snapshot(Guid id, DateTimeOffset since, TimeSpan interval)
        {
            VmPoint[] points;
            lock (_lock)
            {
                var from = since.ToUnixTimeMilliseconds();
                points = [.. _points.Where(p => p.TimeMs >= from)];
            }

            // Disk and network series only when the VMM reported such a device in the window.
            var hasDisk = points.Any(p => p.HasDisk);
            var hasNet = points.Any(p => p.HasNet);
            return new VmHistoryResource
            {
                Id = id,
                IntervalSeconds = interval.TotalSeconds,
                TimestampsMs = [.. points.Select(p => p.TimeMs)],
                CpuPercent = [.. points.Select(p => p.CpuPercent)],
                RssBytes = [.. points.Select(p => p.RssBytes)],
                UptimeSeconds = [.. points.Select(p => p.UptimeSeconds)],
                VcpuExitsPerSecond = [.. points.Select(p => p.ExitsPerSecond)],
                DiskOpsPerSecond = hasDisk ? [.. points.Select(p => p.DiskOpsPerSecond)] : null,
                NetRxFramesPerSecond = hasNet ? [.. points.Select(p => p.NetRxPerSecond)] : null,
                NetTxFramesPerSecond = hasNet ? [.. points.Select(p => p.NetTxPerSecond)] : null,
            };
        }

        private static long? DeviceSum(VmLiveMetrics? live, string type, string counter)
        {
            long? sum = null;
            foreach (var device in live?.Metrics.Devices ?? [])
            {
                if (device is not null && device.Type == type && device.Counters is not null && device.Counters.TryGetValue(counter, out var value))
                {
                    sum = (sum ?? 0) + value;
                }
            }

            return sum;
        }
    }

    private static void Push<T>(Queue<T> points, T point)
    {
        while (points.Count >= Capacity)
        {
            points.Dequeue();
        }

        points.Enqueue(point);
    }

    private static void TrimOlder<T>(Queue<T> points, long oldestMs, Func<T, long> time)
    {
        while (points.Count > 0 && time(points.Peek()) < oldestMs)
        {
            points.Dequeue();
        }
    }

    private readonly record struct HostPoint(long TimeMs, double? CpuPercent, long? MemoryUsedMiB);

    private readonly record struct VmPoint(
        long TimeMs,
        double? CpuPercent,
        long? RssBytes,
        double? UptimeSeconds,
        double? ExitsPerSecond,
        double? DiskOpsPerSecond,
        double? NetRxPerSecond,
        double? NetTxPerSecond,
        bool HasDisk,
        bool HasNet);

    private readonly record struct VmCounters(long Timestamp, int? Pid, long? CpuTicks, long? Exits, long? DiskCompleted, long? NetRx, long? NetTx);

    /// <summary>Parsers of the /proc files the metrics history reads; each returns null for text it does not understand.</summary>
    internal static class ProcFiles
    {
        /// <summary>
        /// From /proc/stat's first line ("cpu  user nice system idle iowait irq softirq steal guest guest_nice"), in
        /// USER_HZ: all time (user to steal; guest time is already in user and nice) and idle time (idle + iowait).
        /// </summary>
        public static (long Total, long Idle)? HostCpu(string? stat)
        {
            var line = FirstLine(stat);
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
            {
                return null;
            }

            var fields = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4)
            {
                return null;
            }

            long total = 0;
            long idle = 0;
            for (var i = 0; i < Math.Min(fields.Length, 8); i++)
            {
                if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue / 16)
                {
                    return null;
                }

                total += value;
                if (i is 3 or 4)
                {
                    idle += value;
                }
            }

            return (total, idle);
        }

        /// <summary>MemTotal and MemAvailable of /proc/meminfo, in MiB; null unless both are there.</summary>
        public static (long TotalMiB, long AvailableMiB)? MemInfo(string? meminfo)
        {
            long? total = null;
            long? available = null;
            foreach (var line in (meminfo ?? "").Split('\n'))
            {
                // "MemTotal:       16318412 kB"
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0)
                {
                    continue;
                }

                var name = line[..colon];
                if (name is not ("MemTotal" or "MemAvailable"))
                {
                    continue;
                }

                var value = line[(colon + 1)..].Trim();
                if (value.EndsWith(" kB", StringComparison.Ordinal)
                    && long.TryParse(value[..^3].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                {
                    if (name == "MemTotal")
                    {
                        total = kib / 1024;
                    }
                    else
                    {
                        available = kib / 1024;
                    }
                }
            }

            return total is { } t && available is { } a && a <= t ? (t, a) : null;
        }

        /// <summary>utime + stime (fields 14 and 15 of /proc/PID/stat) in USER_HZ; null for a process gone or text not understood.</summary>
        public static long? ProcessCpuTicks(string? stat)
        {
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted after the last ')'.
            var close = stat?.LastIndexOf(')') ?? -1;
            if (close < 0)
            {
                return null;
            }

            var fields = stat![(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // fields[0] is field 3 (state): utime is field 14, stime field 15.
            return fields.Length > 12
                && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var utime)
                && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var stime)
                && utime <= long.MaxValue / 2 && stime <= long.MaxValue / 2
                ? utime + stime
                : null;
        }

        private static string? FirstLine(string? text)
        {
            if (text is null)
            {
                return null;
            }

            var newline = text.IndexOf('\n', StringComparison.Ordinal);
            return newline < 0 ? text : text[..newline];
        }
    }
}
