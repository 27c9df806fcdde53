namespace Sharpvisor.Manager.Api;

/// <summary>
/// Wakes every event stream at once when this daemon wrote to the store, so local changes show without waiting for
/// the next poll. A waiter takes <see cref="Next"/> before it reads the store, so a write between its read and its
/// wait still wakes it.
/// </summary>
public sealed class EventSignal
{
    private TaskCompletionSource _next = NewSource();

    /// <summary>Completes at the next <see cref="Pulse"/>.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
