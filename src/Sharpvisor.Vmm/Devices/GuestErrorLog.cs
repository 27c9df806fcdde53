using System.Diagnostics;
using System.Globalization;

namespace Sharpvisor.Vmm.Devices;

/// <summary>
/// Errors a guest causes (a bad chain, a frame no NIC sends, a request over a device's size cap) are counted, and
/// only a few are logged: a guest can cause one per notification, millions a second, and a log line each would fill
/// the host's disk. A burst of <see cref="Burst"/> lines is allowed, then at most one line per
/// <see cref="Interval"/>, and never more than <see cref="LifetimeLines"/> in all; a line after a quiet spell says
/// how many went unlogged. <see cref="Count"/> keeps the true number for the metrics. Safe from any thread.
/// </summary>
public sealed class GuestErrorLog(Action<string> log)
{
    public const int Burst = 5;
    public const int LifetimeLines = 100;
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private long _count;
    private int _lines;
    private long _unlogged;
    private long _lastLine;

    /// <summary>Guest errors reported so far, logged or not.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Lines written so far (at most <see cref="LifetimeLines"/>).</summary>
    public int Lines
    {
        get
        {
            lock (_lock)
            {
                return _lines;
            }
        }
    }

    public void Report(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Interlocked.Increment(ref _count);
        string line;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            if (_lines >= LifetimeLines || (_lines >= Burst && Stopwatch.GetElapsedTime(_lastLine, now) < Interval))
            {
                _unlogged++;
                return;
            }

            _lines++;
            _lastLine = now;
            line = _unlogged == 0 ? message : string.Create(CultureInfo.InvariantCulture, $"{message} (and {_unlogged} more not logged)");
            _unlogged = 0;
            if (_lines == LifetimeLines)
            {
                line += "; further guest errors of this device are only counted";
            }
        }

        log(line);
    }
}
