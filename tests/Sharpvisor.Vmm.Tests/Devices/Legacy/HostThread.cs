namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>A dedicated thread standing in for the host's input thread, which may block for as long as it likes.</summary>
internal sealed class HostThread
{
    private readonly Thread _thread;

    private HostThread(Action work)
    {
        _thread = new Thread(() =>
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                Failure = e;
            }
        })
        { IsBackground = true };
    }

    public Exception? Failure { get; private set; }

    public static HostThread Start(Action work)
    {
        var thread = new HostThread(work);
        thread._thread.Start();
        return thread;
    }

    /// <summary>True if the work finished within <paramref name="timeout"/>.</summary>
    public bool Join(TimeSpan timeout) => _thread.Join(timeout);
}
