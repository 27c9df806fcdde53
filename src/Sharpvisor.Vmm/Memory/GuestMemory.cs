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
    private const ulong PageSize = 4096;

    private readonly GuestRegion[] _regions;
    private ulong[][]? _dirty; // while a migration runs: the pages the VMM itself wrote, per region
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

    /// <summary>Copies into guest RAM and marks the pages dirty for a migration in progress (<see cref="MarkDirty"/>).</summary>
    public void Write(GuestAddress address, ReadOnlySpan<byte> source)
    {
        source.CopyTo(GetSpan(address, source.Length));
        MarkDirty(address, (ulong)source.Length);
    }

    public T Read<T>(GuestAddress address)
        where T : unmanaged => MemoryMarshal.Read<T>(GetSpan(address, Unsafe.SizeOf<T>()));

    /// <summary>Writes a value into guest RAM and marks its pages dirty, as <see cref="Write(GuestAddress, ReadOnlySpan{byte})"/> does.</summary>
    public void Write<T>(GuestAddress address, T value)
        where T : unmanaged
    {
        MemoryMarshal.Write(GetSpan(address, Unsafe.SizeOf<T>()), in value);
        MarkDirty(address, (ulong)Unsafe.SizeOf<T>());
    }

    /// <summary>
    /// Records that the VMM wrote [address, address+length): KVM's dirty log sees only what vCPUs write, so a device
    /// that writes guest RAM through a span from <see cref="GetSpan"/> calls this after the write (after, so that a
    /// migration round that reads the page before the write lands sends it again in the next). A no-op unless
    /// <see cref="StartDirtyTracking"/> is in effect; bits outside RAM are ignored.
    /// </summary>
    public void MarkDirty(GuestAddress address, ulong length)
    {
        var bitmaps = Volatile.Read(ref _dirty);
        if (bitmaps is null || length == 0)
        {
            return;
        }

        for (var slot = 0; slot < _regions.Length; slot++)
        {
            var region = _regions[slot];
            if (!region.Contains(address, length))
            {
                continue;
            }

            var first = (address.Value - region.Start.Value) / PageSize;
            var last = (address.Value - region.Start.Value + length - 1) / PageSize;
            for (var page = first; page <= last; page++)
            {
                Interlocked.Or(ref bitmaps[slot][page / 64], 1UL << (int)(page % 64));
            }

            return;
        }
    }

    /// <summary>Starts recording the VMM's own writes (<see cref="MarkDirty"/>), one bit per page per region.</summary>
    public void StartDirtyTracking() =>
        Volatile.Write(ref _dirty, [.. _regions.Select(r => new ulong[(r.Size / PageSize + 63) / 64])]);

    /// <summary>The pages the VMM wrote since the last call (or the start), per region; the record starts over.</summary>
    public ulong[][] CollectDirty()
    {
        var bitmaps = Volatile.Read(ref _dirty) ?? throw new InvalidOperationException("dirty tracking is not started");
        var collected = new ulong[bitmaps.Length][];
        for (var slot = 0; slot < bitmaps.Length; slot++)
        {
            collected[slot] = new ulong[bitmaps[slot].Length];
            for (var i = 0; i < bitmaps[slot].Length; i++)
            {
                collected[slot][i] = Interlocked.Exchange(ref bitmaps[slot][i], 0);
            }
        }

        return collected;
    }

    public void StopDirtyTracking() => Volatile.Write(ref _dirty, null);

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
