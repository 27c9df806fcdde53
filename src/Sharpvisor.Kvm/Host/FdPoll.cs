using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Host;

/// <summary>poll(2) over a few descriptors, for device threads that wait on a doorbell and a backend at once.</summary>
public static unsafe class FdPoll
{
    /// <summary>
    /// Waits until one of <paramref name="handles"/> is readable (or in error), at most <paramref name="timeoutMs"/>
    /// (-1: no limit). Sets <paramref name="ready"/>[i] for each that is; returns how many are. EINTR counts as none.
    /// </summary>
    public static int WaitReadable(ReadOnlySpan<SafeHandle> handles, Span<bool> ready, int timeoutMs)
    {
        if (ready.Length < handles.Length)
        {
            throw new ArgumentException("one ready flag per handle", nameof(ready));
        }

        Span<Libc.PollFd> fds = stackalloc Libc.PollFd[handles.Length];
        Span<bool> added = stackalloc bool[handles.Length];
        int result;
        try
        {
            for (var i = 0; i < handles.Length; i++)
            {
                // A reference per handle: none can be closed (and its number reused) while poll watches it.
                handles[i].DangerousAddRef(ref added[i]);
                fds[i] = new Libc.PollFd { fd = (int)handles[i].DangerousGetHandle(), events = Libc.POLLIN };
            }

            // SAFETY: fds is a stack buffer of exactly handles.Length entries, the count passed.
            fixed (Libc.PollFd* p = fds)
            {
                result = Libc.poll(p, (nuint)fds.Length, timeoutMs);
            }
        }
        finally
        {
            for (var i = 0; i < handles.Length; i++)
            {
                if (added[i])
                {
                    handles[i].DangerousRelease();
                }
            }
        }

        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Errno.EINTR ? 0 : throw Errno.Create("poll", errno);
        }

        for (var i = 0; i < handles.Length; i++)
        {
            ready[i] = (fds[i].revents & (Libc.POLLIN | Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0;
        }

        return result;
    }
}
