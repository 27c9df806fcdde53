using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Sharpvisor.Vmm.Machine;

/// <summary>Where and how often to sample the guest's instruction pointer (a diagnostic, see <see cref="GuestRipProfiler"/>).</summary>
public sealed record GuestProfileOptions(Stream Output, TimeSpan Interval)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(10);
}

/// <summary>
/// A sampling profiler of the guest: every interval a timer thread kicks each vCPU out of KVM_RUN; the vCPU
/// thread reads its registers and appends one line <c>&lt;ns since start&gt; &lt;vcpu&gt; &lt;rip hex&gt;</c>.
/// The first line is a comment naming the start on CLOCK_MONOTONIC (<see cref="Stopwatch"/>'s clock on Linux),
/// so the samples can be lined up with other timestamps of the same clock. Symbolize offline against the
/// kernel's symbols (bench/guest-profile.py).
/// </summary>
internal sealed class GuestRipProfiler : IDisposable
{
    private readonly Lock _gate = new();
    private readonly StreamWriter _writer;
    private readonly TimeSpan _interval;
    private readonly long _start;
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private bool _disposed;

    public GuestRipProfiler(GuestProfileOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Interval, TimeSpan.Zero);
        _writer = new StreamWriter(options.Output, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        _interval = options.Interval;
        _start = Stopwatch.GetTimestamp();
        _writer.Write(string.Create(CultureInfo.InvariantCulture,
            $"# sharpvisor guest RIP samples: ns since start, vcpu, rip; start = CLOCK_MONOTONIC {TimestampToNanoseconds(_start)} ns; interval {_interval.TotalMilliseconds} ms\n"));
    }

    /// <summary>Starts the timer thread that asks every runner for a sample each interval.</summary>
    public void Start(IReadOnlyList<VcpuRunner> runners)
    {
        _thread = new Thread(() => Tick(runners)) { Name = "guest-profiler", IsBackground = true };
        _thread.Start();
    }

    /// <summary>Called on a vCPU thread with the RIP it just read.</summary>
    public void Record(uint vcpu, ulong rip)
    {
        var ns = TimestampToNanoseconds(Stopwatch.GetTimestamp() - _start);
        lock (_gate)
        {
            if (!_disposed)
            {
                _writer.Write(string.Create(CultureInfo.InvariantCulture, $"{ns} {vcpu} {rip:x}\n"));
            }
        }
    }

    /// <summary>Stops the timer thread and flushes the samples. Idempotent; later <see cref="Record"/> calls are dropped.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _stop.Cancel();
        _thread?.Join();
        lock (_gate)
        {
            _writer.Dispose();
        }

        _stop.Dispose();
    }

    private static long TimestampToNanoseconds(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    private void Tick(IReadOnlyList<VcpuRunner> runners)
    {
        var lastFlush = Stopwatch.GetTimestamp();
        while (!_stop.Token.WaitHandle.WaitOne(_interval) && !Volatile.Read(ref _disposed))
        {
            foreach (var runner in runners)
            {
                runner.RequestSample();
            }

            // Flush about once a second, so a VMM killed hard still leaves most of its samples behind.
            if (Stopwatch.GetElapsedTime(lastFlush) >= TimeSpan.FromSeconds(1))
            {
                lock (_gate)
                {
                    _writer.Flush();
                }

                lastFlush = Stopwatch.GetTimestamp();
            }
        }
    }
}
