using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Host;

/// <summary>What a path names, as stat(2) sees it (following symbolic links).</summary>
public enum HostFileKind
{
    Missing,
    Regular,
    Directory,
    BlockDevice,
    CharacterDevice,

    /// <summary>A FIFO or a socket.</summary>
    Other,

    /// <summary>A directory on the way cannot be searched.</summary>
    NoAccess,
}

/// <summary>File calls .NET does not offer: a data-only durable flush, hole punching and the file type.</summary>
public static unsafe class HostFile
{
    private const int EOPNOTSUPP = 95;
    private const int ENXIO = 6;
    private const int EINVAL = 22;

    /// <summary>fdatasync(2): the written data (and the size, if it changed) reach stable storage.</summary>
    public static void FlushData(SafeFileHandle file)
    {
        ArgumentNullException.ThrowIfNull(file);
        using var fd = new HandleLease(file);
        Errno.Check(Libc.fdatasync(fd.Fd), "fdatasync");
    }

    /// <summary>
    /// Opens <paramref name="path"/> for reading and writing without any lock: .NET's File.OpenHandle takes a shared
    /// flock on a writable file, which fails while another process holds the exclusive one (a migration's source).
    /// FileNotFoundException, UnauthorizedAccessException or IOException carry the reason.
    /// </summary>
    public static SafeFileHandle OpenReadWriteUnlocked(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fd = Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }

        var errno = Marshal.GetLastPInvokeError();
        var reason = Marshal.GetPInvokeErrorMessage(errno);
        throw errno switch
        {
            Errno.ENOENT => new FileNotFoundException(reason, path),
            Errno.EACCES or Errno.EPERM => new UnauthorizedAccessException($"{path}: {reason}"),
            _ => new IOException($"{path}: {reason}"),
        };
    }

    /// <summary>
    /// Takes the exclusive flock(2) on the open file, the lock .NET takes for FileShare.None (EWOULDBLOCK is EAGAIN on Linux): true when it is ours now,
    /// false when another open file holds a lock on it. It never waits.
    /// </summary>
    public static bool TryLockExclusive(SafeFileHandle file)
    {
        ArgumentNullException.ThrowIfNull(file);
        using var fd = new HandleLease(file);
        if (Libc.flock(fd.Fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.EAGAIN ? false : throw Errno.Create("flock(LOCK_EX)", errno);
    }

    /// <summary>Drops the file's flock(2), shared or exclusive, for every descriptor of this open file.</summary>
    public static void Unlock(SafeFileHandle file)
    {
        ArgumentNullException.ThrowIfNull(file);
        using var fd = new HandleLease(file);
        Errno.Check(Libc.flock(fd.Fd, Libc.LOCK_UN), "flock(LOCK_UN)");
    }

    /// <summary>Deallocates a range (reads return zeros afterwards); false when the file system cannot.</summary>
    public static bool TryPunchHole(SafeFileHandle file, long offset, long length) =>
        TryFallocate(file, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length, "fallocate(PUNCH_HOLE)");

    /// <summary>Zeroes a range without writing buffers; false when the file system cannot.</summary>
    public static bool TryZeroRange(SafeFileHandle file, long offset, long length) =>
        TryFallocate(file, Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE, offset, length, "fallocate(ZERO_RANGE)");

    private static bool TryFallocate(SafeFileHandle file, int mode, long offset, long length, string operation)
    {
        ArgumentNullException.ThrowIfNull(file);
        using var fd = new HandleLease(file);
        if (Libc.fallocate(fd.Fd, mode, offset, length) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == EOPNOTSUPP ? false : throw Errno.Create(operation, errno);
    }

    /// <summary>
    /// Where the file's next data at or after <paramref name="offset"/> begins and where that data ends (lseek SEEK_DATA
    /// and SEEK_HOLE), or null when only a hole follows to the end. A file system that cannot tell says all is data.
    /// Uses the descriptor's file position, which <see cref="RandomAccess"/> (pread, pwrite) never does.
    /// </summary>
    public static (long Start, long End)? NextData(SafeFileHandle file, long offset)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        using var fd = new HandleLease(file);
        var length = RandomAccess.GetLength(file);
        var start = Libc.lseek(fd.Fd, offset, Libc.SEEK_DATA);
        if (start < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == ENXIO ? null : errno == EINVAL ? (offset, Math.Max(offset, length)) : throw Errno.Create("lseek(SEEK_DATA)", errno);
        }

        var end = Libc.lseek(fd.Fd, start, Libc.SEEK_HOLE);
        return (start, end < 0 ? Math.Max(start, length) : end);
    }

    /// <summary>
    /// The canonical absolute path of an existing <paramref name="path"/>, every symbolic link and <c>..</c> on the
    /// way resolved (realpath(3)); null when it does not exist or cannot be reached. .NET resolves only a last link.
    /// </summary>
    public static string? RealPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var resolved = Libc.realpath(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Libc.free(resolved);
        }
    }

    /// <summary>What <paramref name="path"/> is: .NET tells a directory from a file, not a file from a device node.</summary>
    public static HostFileKind KindOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var buffer = stackalloc byte[Libc.StatSize];
        if (Libc.stat(path, buffer) != 0)
        {
            return Marshal.GetLastPInvokeError() is Errno.EACCES or Errno.EPERM ? HostFileKind.NoAccess : HostFileKind.Missing;
        }

        return (*(uint*)(buffer + Libc.StatModeOffset) & Libc.S_IFMT) switch
        {
            Libc.S_IFREG => HostFileKind.Regular,
            Libc.S_IFDIR => HostFileKind.Directory,
            Libc.S_IFBLK => HostFileKind.BlockDevice,
            Libc.S_IFCHR => HostFileKind.CharacterDevice,
            _ => HostFileKind.Other,
        };
    }

    /// <summary>
    /// The bytes the file system gave <paramref name="path"/> (st_blocks × 512: a sparse image takes less than its
    /// length), what qemu-img calls its actual size; null when stat fails.
    /// </summary>
    public static long? AllocatedBytes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var buffer = stackalloc byte[Libc.StatSize];
        return Libc.stat(path, buffer) == 0 ? *(long*)(buffer + Libc.StatBlocksOffset) * 512 : null;
    }
}
