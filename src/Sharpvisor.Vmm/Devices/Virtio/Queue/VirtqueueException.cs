namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// The driver broke the virtqueue contract (a looping chain, a buffer outside RAM, an index out of range ...).
/// Guest input, never a host bug: the device answers with NEEDS_RESET or an error status, the VMM carries on.
/// The message is one line saying what was wrong.
/// </summary>
public sealed class VirtqueueException : Exception
{
    public VirtqueueException()
    {
    }

    public VirtqueueException(string message)
        : base(message)
    {
    }

    public VirtqueueException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
