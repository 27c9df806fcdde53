using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Interop;

/// <summary>libc entry points, native names kept. Every call sets errno for <see cref="Errno"/>.</summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int O_RDWR = 0x2;
    public const int O_CLOEXEC = 0x80000;

    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_NORESERVE = 0x4000;
    public static readonly nint MAP_FAILED = -1;

    public const int MADV_DONTDUMP = 16;

    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;

    public const int SIGUSR1 = 10;

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, nint arg);

    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    [LibraryImport(Lib, EntryPoint = "madvise", SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static partial nint write(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "pthread_self")]
    public static partial nuint pthread_self();

    [LibraryImport(Lib, EntryPoint = "pthread_kill")]
    public static partial int pthread_kill(nuint thread, int sig);

    [LibraryImport(Lib, EntryPoint = "isatty")]
    public static partial int isatty(int fd);

    [LibraryImport(Lib, EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int tcgetattr(int fd, Termios* termios);

    [LibraryImport(Lib, EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int tcsetattr(int fd, int optionalActions, Termios* termios);

    [LibraryImport(Lib, EntryPoint = "cfmakeraw")]
    public static partial void cfmakeraw(Termios* termios);

    public const int TCSANOW = 0;

    /// <summary>glibc's x86-64 <c>struct termios</c> (60 bytes); only copied around, never interpreted.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Termios
    {
        public uint c_iflag;
        public uint c_oflag;
        public uint c_cflag;
        public uint c_lflag;
        public byte c_line;
        public fixed byte c_cc[32];
        public uint c_ispeed;
        public uint c_ospeed;
    }
}
