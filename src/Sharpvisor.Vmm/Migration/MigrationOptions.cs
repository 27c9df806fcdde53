namespace Sharpvisor.Vmm.Migration;

/// <summary>The settings QEMU users know, with QEMU's defaults where it has one.</summary>
public sealed record MigrationOptions
{
    /// <summary>The longest pause allowed for the last round: rounds go on until the rest fits (QEMU: 300 ms).</summary>
    public TimeSpan DowntimeLimit { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Bytes per second the stream may use; 0 for no limit.</summary>
    public long BandwidthLimit { get; init; }

    /// <summary>After this many rounds the last one is taken whatever it costs (a guest that dirties faster than the link).</summary>
    public int MaxRounds { get; init; } = 30;

    /// <summary>How long the source waits for the destination at each step of the hand-over.</summary>
    public TimeSpan HandoverTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Throttle the vCPUs when rounds stop shrinking (QEMU's auto-converge, off by default there too): first
    /// <see cref="ThrottleInitial"/> % of their time, then <see cref="ThrottleIncrement"/> more each time, up to 99 %.
    /// </summary>
    public bool AutoConverge { get; init; }

    public int ThrottleInitial { get; init; } = 20;

    public int ThrottleIncrement { get; init; } = 10;
}

/// <summary>
/// Where a pre-copy migration is after each round: totals so far, what is dirty now, and the vCPU throttle (%). While a
/// long round runs it is also reported every so often with <see cref="RoundComplete"/> false: totals so far, the pages
/// that round still has to send, the bandwidth it achieves, and the downtime last expected.
/// </summary>
public sealed record MigrationProgress(int Round, long PagesSent, long BytesSent, long RemainingPages, double BytesPerSecond, TimeSpan ExpectedDowntime, int ThrottlePercent = 0)
{
    public bool RoundComplete { get; init; } = true;
}

/// <summary>What a finished migration did: rounds, traffic, how long the guest was paused on the source's clock, the highest throttle.</summary>
public sealed record MigrationResult(int Rounds, long PagesSent, long BytesSent, TimeSpan Total, TimeSpan Downtime, int ThrottlePercent = 0);

/// <summary>
/// A migration that did not complete; its message is one line. The source VM runs on unless it says otherwise.
/// An <see cref="IOException"/>: like a broken connection, it is the run's failure, not a usage error.
/// </summary>
public sealed class MigrationException(string message) : IOException(message);
