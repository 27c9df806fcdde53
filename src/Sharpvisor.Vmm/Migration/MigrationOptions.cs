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
}

/// <summary>Where a pre-copy migration is: after each round, and at the end.</summary>
public sealed record MigrationProgress(int Round, long PagesSent, long BytesSent, long RemainingPages, double BytesPerSecond, TimeSpan ExpectedDowntime);

/// <summary>What a finished migration did: rounds, traffic, and how long the guest was paused on the source's clock.</summary>
public sealed record MigrationResult(int Rounds, long PagesSent, long BytesSent, TimeSpan Total, TimeSpan Downtime);

/// <summary>
/// A migration that did not complete; its message is one line. The source VM runs on unless it says otherwise.
/// An <see cref="IOException"/>: like a broken connection, it is the run's failure, not a usage error.
/// </summary>
public sealed class MigrationException(string message) : IOException(message);
