using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>A Linux eventfd: the doorbell between KVM (irqfd/ioeventfd) and device threads.</summary>
public sealed unsafe class EventFd : IDisposable
{
    public EventFd(bool nonBlocking = false)
    {
        var flags = Libc.EFD_CLOEXEC | (nonBlocking ? Libc.EFD_NONBLOCK : 0);
        Handle = new FileDescriptorHandle(Errno.Check(Libc.eventfd(0, flags), "eventfd"));
    }

    public FileDescriptorHandle Handle { get; }

    public void Signal(ulong value = 1)
    {
        using var fd = new HandleLease(Handle);
        // SAFETY: writes 8 bytes from a local on the stack, the size eventfd requires.
        Errno.Check(Libc.write(fd.Fd, &value, sizeof(ulong)), "eventfd write");
    }

    /// <summary>Blocks until signalled (or returns 0 at once in non-blocking mode) and resets the counter.</summary>
    public ulong Wait()
    {
        ulong value = 0;
        using var fd = new HandleLease(Handle);
        // SAFETY: reads 8 bytes into a local on the stack, the size eventfd requires.
        var result = Libc.read(fd.Fd, &value, sizeof(ulong));
        return result < 0 ? 0 : value;
    }

    public void Dispose() => Handle.Dispose();
}
