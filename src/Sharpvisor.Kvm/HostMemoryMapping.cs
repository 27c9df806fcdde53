using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// A private mapping backing guest RAM, anonymous or from a snapshot file. MAP_NORESERVE keeps a 64 GiB guest free
/// until touched: the kernel backs pages lazily on first access.
/// </summary>
public sealed class HostMemoryMapping : IDisposable
{
    private nint _address;

    private HostMemoryMapping(nint address, ulong size, bool anonymous)
    {
        _address = address;
        Size = size;
        IsAnonymous = anonymous;
    }

    /// <summary>Anonymous memory: a page never touched is zeros (a file mapping's may hold the file's data).</summary>
    public bool IsAnonymous { get; }

    private const ulong PageSize = 4096;

    /// <summary>
    /// For each page of [offset, offset + touched.Length × 4 KiB), whether the process ever touched it: present in
    /// memory or swapped out, as /proc/self/pagemap says (bits 63 and 62). An anonymous page never touched reads as
    /// zeros, so a reader looking for data can skip it instead of faulting it in. False when pagemap cannot be read
    /// (then every page counts as touched).
    /// </summary>
    public bool TryGetTouchedPages(ulong offset, Span<bool> touched)
    {
        var length = (ulong)touched.Length * PageSize;
        if (offset % PageSize != 0 || offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"pages at 0x{offset:x} (+{touched.Length}) are not inside the mapping");
        }

        const ulong Present = 1UL << 63, Swapped = 1UL << 62;
        var entries = new ulong[touched.Length];
        try
        {
            using var pagemap = File.OpenHandle("/proc/self/pagemap", FileMode.Open, FileAccess.Read);
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(entries.AsSpan());
            var at = (long)(((ulong)Address + offset) / PageSize * sizeof(ulong));
            if (RandomAccess.Read(pagemap, bytes, at) != bytes.Length)
            {
                return false;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        for (var i = 0; i < entries.Length; i++)
        {
            touched[i] = (entries[i] & (Present | Swapped)) != 0;
        }

        return true;
    }

    public nint Address => _address == 0 ? throw new ObjectDisposedException(nameof(HostMemoryMapping)) : _address;

    public ulong Size { get; }

    public static HostMemoryMapping CreateAnonymous(ulong size)
    {
        ArgumentOutOfRangeException.ThrowIfZero(size);
        var address = Libc.mmap(0, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        if (address == Libc.MAP_FAILED)
        {
            Errno.Throw($"mmap of {size} bytes of guest memory");
        }

        // Guest RAM in a core dump of the VMM would be huge and leaks guest data.
        _ = Libc.madvise(address, (nuint)size, Libc.MADV_DONTDUMP);
        return new HostMemoryMapping(address, size, anonymous: true);
    }

    /// <summary>
    /// Maps <paramref name="size"/> bytes of a file from a page-aligned <paramref name="offset"/>, private and
    /// copy-on-write: a page is read from the file when first touched, and the guest's writes never reach the file.
    /// A hole in a sparse file reads as zeros. The file may be closed afterwards; the mapping keeps it.
    /// </summary>
    public static HostMemoryMapping CreatePrivateFile(SafeHandle file, long offset, ulong size)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfZero(size);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset % Environment.SystemPageSize != 0)
        {
            throw new ArgumentException($"offset {offset} is not page-aligned", nameof(offset));
        }

        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            var address = Libc.mmap(0, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_NORESERVE, (int)file.DangerousGetHandle(), (nint)offset);
            if (address == Libc.MAP_FAILED)
            {
                Errno.Throw($"mmap of {size} bytes of guest memory from a file");
            }

            _ = Libc.madvise(address, (nuint)size, Libc.MADV_DONTDUMP);
            return new HostMemoryMapping(address, size, anonymous: false);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    public void Dispose()
    {
        var address = Interlocked.Exchange(ref _address, 0);
        if (address != 0)
        {
            _ = Libc.munmap(address, (nuint)Size);
        }
    }
}
