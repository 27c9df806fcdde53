using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sharpvisor.Kvm;

namespace Sharpvisor.Vmm.Memory;

/// <summary>
/// Guest RAM: a sorted set of non-overlapping regions. Every access is bounds-checked against one region;
/// an access that crosses a region boundary or touches the MMIO hole throws <see cref="GuestMemoryException"/>.
/// The guest may change memory at any moment, so callers read a value once into a copy and validate the copy.
/// The mappings live until the owner has disposed this object and every <see cref="Lease"/> is released: a thread
/// that may touch guest RAM (a vCPU, a device thread, one abandoned past its stop deadline) holds a lease, so no
/// teardown order and no exception can leave it running on unmapped memory.
/// </summary>
public sealed class GuestMemory : IDisposable
{
    private readonly GuestRegion[] _regions;
    private int _holders = 1; // the owner, plus one per live lease; the mappings go when it reaches 0
    private int _ownerReleased;

    private GuestMemory(GuestRegion[] regions) => _regions = regions;

    public IReadOnlyList<GuestRegion> Regions => _regions;

    /// <summary>Total bytes of RAM over all regions.</summary>
    public ulong TotalSize => _regions.Aggregate(0UL, (sum, r) => sum + r.Size);

    /// <summary>Maps anonymous host memory for each (start, size) range; ranges must not overlap.</summary>
    public static GuestMemory Create(IEnumerable<(GuestAddress Start, ulong Size)> ranges) =>
        Create(ranges, (_, size) => HostMemoryMapping.CreateAnonymous(size));

    /// <summary>Maps each (start, size) range with <paramref name="map"/> (a snapshot's file, for a restore); ranges must not overlap.</summary>
    public static GuestMemory Create(IEnumerable<(GuestAddress Start, ulong Size)> ranges, Func<GuestAddress, ulong, HostMemoryMapping> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var sorted = ranges.OrderBy(r => r.Start).ToArray();
        foreach (var (start, size) in sorted)
        {
            // A range past 2^64 has no End, and its wrapped end would hide an overlap below.
            if (size > ulong.MaxValue - start.Value)
            {
                throw new ArgumentException($"guest memory range {start}+0x{size:x} wraps past the end of the address space", nameof(ranges));
            }
        }

        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i - 1].Start.Value + sorted[i - 1].Size > sorted[i].Start.Value)
            {
                throw new ArgumentException($"guest memory ranges overlap at {sorted[i].Start}", nameof(ranges));
            }
        }

        var regions = new List<GuestRegion>(sorted.Length);
        try
        {
            foreach (var (start, size) in sorted)
            {
                regions.Add(new GuestRegion(start, map(start, size)));
            }
        }
        catch
        {
            regions.ForEach(r => r.Mapping.Dispose());
            throw;
        }

        return new GuestMemory([.. regions]);
    }

    public bool IsValid(GuestAddress address, ulong length) => FindRegion(address, length) is not null;

    /// <summary>The region holding the byte at <paramref name="address"/>, or null when it is not RAM.</summary>
    public GuestRegion? RegionContaining(GuestAddress address) => FindRegion(address, 1);

    /// <summary>A span over guest RAM. Valid only while this object lives; never hand it to another thread that outlives the VM.</summary>
    public unsafe Span<byte> GetSpan(GuestAddress address, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var region = FindRegion(address, (ulong)length) ?? throw new GuestMemoryException(address, (ulong)length);
        // SAFETY: FindRegion proved [address, address+length) lies inside one live mapping of region.Size bytes.
        return new Span<byte>((byte*)region.Mapping.Address + (nint)(address.Value - region.Start.Value), length);
    }

    public void Read(GuestAddress address, Span<byte> destination) => GetSpan(address, destination.Length).CopyTo(destination);

    public void Write(GuestAddress address, ReadOnlySpan<byte> source) => source.CopyTo(GetSpan(address, source.Length));

    public T Read<T>(GuestAddress address)
        where T : unmanaged => MemoryMarshal.Read<T>(GetSpan(address, Unsafe.SizeOf<T>()));

    public void Write<T>(GuestAddress address, T value)
        where T : unmanaged => MemoryMarshal.Write(GetSpan(address, Unsafe.SizeOf<T>()), in value);

    /// <summary>True until the owner and every lease holder are done with the memory.</summary>
    public bool IsMapped => Volatile.Read(ref _holders) > 0;

    /// <summary>Keeps the mappings alive until the lease is disposed; throws once they are gone.</summary>
    public MemoryLease Lease()
    {
        while (true)
        {
            var holders = Volatile.Read(ref _holders);
            ObjectDisposedException.ThrowIf(holders == 0, this);
            if (Interlocked.CompareExchange(ref _holders, holders + 1, holders) == holders)
            {
                return new MemoryLease(this);
            }
        }
    }

    /// <summary>The owner is done; RAM is unmapped now, or when the last lease is released.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ownerReleased, 1) == 0)
        {
            Release();
        }
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            foreach (var region in _regions)
            {
                region.Mapping.Dispose();
            }
        }
    }

    /// <summary>One holder's claim on the mappings; disposing it twice releases once.</summary>
    public sealed class MemoryLease : IDisposable
    {
        private GuestMemory? _memory;

        internal MemoryLease(GuestMemory memory) => _memory = memory;

        public void Dispose() => Interlocked.Exchange(ref _memory, null)?.Release();
    }

    private GuestRegion? FindRegion(GuestAddress address, ulong length)
    {
        foreach (var region in _regions)
        {
            if (region.Contains(address, length))
            {
                return region;
            }
        }

        return null;
    }
}
