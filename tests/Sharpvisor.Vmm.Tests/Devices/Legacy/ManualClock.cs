namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>
/// A clock that stands still until a test moves it. Its timestamps are <see cref="Now"/> in 100 ns ticks, and its
/// timers fire in due order on the thread that calls <see cref="Advance"/>; setting <see cref="Now"/> fires none.
/// </summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];

    public DateTimeOffset Now { get; set; } = now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Timers that are due to fire at some point.</summary>
    public int ArmedTimerCount
    {
        get
        {
            lock (_lock)
            {
                return _timers.Count(t => t.DueAt is not null);
            }
        }
    }

    public override DateTimeOffset GetUtcNow() => Now;

    public override long GetTimestamp() => Now.UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        var target = Now + by;
        while (TakeNextDue(target) is { } timer)
        {
            timer.Callback(timer.State);
        }

        Now = target;
    }

    private ManualTimer? TakeNextDue(DateTimeOffset target)
    {
        lock (_lock)
        {
            var next = _timers.Where(t => t.DueAt <= target).MinBy(t => t.DueAt);
            if (next is null)
            {
                return null;
            }

            Now = next.DueAt!.Value;
            next.DueAt = next.Period > TimeSpan.Zero ? Now + next.Period : null;
            return next;
        }
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        public DateTimeOffset? DueAt { get; set; }

        public TimeSpan Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._lock)
            {
                DueAt = dueTime == Timeout.InfiniteTimeSpan ? null : clock.Now + dueTime;
                Period = period;
                return clock._timers.Contains(this);
            }
        }

        public void Dispose()
        {
            lock (clock._lock)
            {
                DueAt = null;
                clock._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
