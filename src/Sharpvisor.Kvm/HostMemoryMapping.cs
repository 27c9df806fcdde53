using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// An anonymous private mapping backing guest RAM. MAP_NORESERVE keeps a 64 GiB guest free until touched:
/// the kernel backs pages lazily on first access.
/// </summary>
public sealed class HostMemoryMapping : IDisposable
{
    private nint _address;

    private HostMemoryMapping(nint address, ulong size)
    {
        _address = address;
        Size = size;
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
        return new HostMemoryMapping(address, size);
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
