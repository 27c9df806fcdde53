using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Interop;

/// <summary>libc calls device backends need: waiting on several fds, durable flushes, file holes, TAP devices.</summary>
internal static unsafe partial class Libc
{
    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    public const int FALLOC_FL_KEEP_SIZE = 0x1;
    public const int FALLOC_FL_PUNCH_HOLE = 0x2;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    public const int O_NONBLOCK = 0x800;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;

    /// <summary>_IOW('T', 202, int): attach this tun fd to an interface, creating it if needed.</summary>
    public const nuint TUNSETIFF = 0x400454CA;
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    public const int IFNAMSIZ = 16;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int fd;
        public short events;
        public short revents;
    }

    /// <summary>struct ifreq as TUNSETIFF reads it: the name, then the flags in the union (40 bytes in all).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IfReq
    {
        public fixed byte ifr_name[IFNAMSIZ];
        public short ifr_flags;
        public fixed byte pad[22];
    }

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint nfds, int timeout);

    /// <summary>fcntl(2) with an int argument (F_GETFL, F_SETFL).</summary>
    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport(Lib, EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int fdatasync(int fd);

    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    public static partial int flock(int fd, int operation);

    /// <summary>struct stat on x86-64 is 144 bytes; st_mode (a u32) sits at offset 24.</summary>
    public const int StatSize = 144;
    public const int StatModeOffset = 24;

    /// <summary>st_blocks (an i64 of 512-byte units) sits at offset 64 of struct stat on x86-64.</summary>
    public const int StatBlocksOffset = 64;
    public const uint S_IFMT = 0xF000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFREG = 0x8000;

    /// <summary>realpath(3) with a NULL buffer: the canonical path malloc'ed by libc (release with <see cref="free"/>), or 0.</summary>
    [LibraryImport(Lib, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint realpath(string path, nint resolved);

    [LibraryImport(Lib, EntryPoint = "free")]
    public static partial void free(nint pointer);

    /// <summary>stat(2), exported by name from glibc 2.33 on (Debian 12 has 2.36).</summary>
    [LibraryImport(Lib, EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, byte* buffer);

    [LibraryImport(Lib, EntryPoint = "fallocate", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long len);

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    [LibraryImport(Lib, EntryPoint = "lseek", SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);
}
