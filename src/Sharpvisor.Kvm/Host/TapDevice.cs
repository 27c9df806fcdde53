using System.Runtime.InteropServices;
using System.Text;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Host;

/// <summary>
/// A TAP interface opened through /dev/net/tun: one Ethernet frame per read or write, no packet-info prefix.
/// Opening attaches to an existing interface of that name (a persistent one made with `ip tuntap add`) or
/// creates a transient one that vanishes when the descriptor closes. Non-blocking: wait with <see cref="FdPoll"/>.
/// </summary>
public sealed unsafe class TapDevice : IDisposable
{
    public const string TunPath = "/dev/net/tun";

    private TapDevice(FileDescriptorHandle handle, string name)
    {
        Handle = handle;
        Name = name;
    }

    public FileDescriptorHandle Handle { get; }

    public string Name { get; }

    /// <summary>A /dev/net/tun descriptor of its own (one per TAP), the launcher's when it opened one, non-blocking.</summary>
    private static int OpenTun()
    {
        if (InheritedFiles.TakeDescriptor(TunPath) is not { } fd)
        {
            return Errno.Check(Libc.open(TunPath, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC), TunPath);
        }

        var flags = Libc.fcntl(fd, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK) < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Libc.close(fd);
            throw Errno.Create($"{TunPath} (inherited)", error);
        }

        return fd;
    }

    /// <summary>Opens or creates TAP interface <paramref name="name"/> (1-15 bytes: letters, digits, '-', '_', '.').</summary>
    public static TapDevice Open(string name)
    {
        ValidateName(name);
        var handle = new FileDescriptorHandle(OpenTun());
        try
        {
            var request = new Libc.IfReq { ifr_flags = Libc.IFF_TAP | Libc.IFF_NO_PI };
            var bytes = Encoding.ASCII.GetBytes(name);
            // SAFETY: ifr_name holds IFNAMSIZ bytes and name is at most IFNAMSIZ-1 bytes, so the NUL stays.
            bytes.CopyTo(new Span<byte>(request.ifr_name, Libc.IFNAMSIZ));
            Errno.Check(Libc.ioctl(handle.Fd, Libc.TUNSETIFF, (nint)(&request)), $"TUNSETIFF {name}");
            return new TapDevice(handle, name);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or >= Libc.IFNAMSIZ || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"'{name}' is not a valid interface name (1-15 letters, digits, '-', '_', '.')", nameof(name));
        }
    }

    /// <summary>Reads one frame into <paramref name="buffer"/>; returns its length, or 0 when none is waiting.</summary>
    public int Read(Span<byte> buffer)
    {
        nint result;
        // SAFETY: the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* p = buffer)
        {
            using var fd = new HandleLease(Handle);
            result = Libc.read(fd.Fd, p, (nuint)buffer.Length);
        }

        if (result >= 0)
        {
            return (int)result;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is Errno.EAGAIN or Errno.EINTR ? 0 : throw Errno.Create($"read from {Name}", errno);
    }

    /// <summary>
    /// Sends one frame; false when the kernel drops it: the interface's queue is full (EAGAIN), it is down (EIO), or
    /// it refuses the frame itself (EINVAL for one shorter than an Ethernet header, EMSGSIZE, ENOBUFS). A refused frame
    /// is the sender's problem, never the NIC's: only errors about the descriptor itself throw.
    /// </summary>
    public bool Write(ReadOnlySpan<byte> frame)
    {
        nint result;
        // SAFETY: the kernel reads exactly frame.Length bytes from the pinned span.
        fixed (byte* p = frame)
        {
            using var fd = new HandleLease(Handle);
            result = Libc.write(fd.Fd, p, (nuint)frame.Length);
        }

        if (result >= 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is Errno.EAGAIN or Errno.EINTR or Errno.EIO or Errno.EINVAL or Errno.EMSGSIZE or Errno.ENOBUFS
            ? false
            : throw Errno.Create($"write to {Name}", errno);
    }

    public void Dispose() => Handle.Dispose();
}
