namespace Sharpvisor.Vmm.Bus;

/// <summary>
/// One registry of address ranges (either the port-I/O space or the MMIO space). A vCPU exit becomes one
/// <see cref="Read"/> or <see cref="Write"/>. Most registration happens while the machine is built, but PCI BARs
/// move while the guest runs, so changes are serialised by a lock and publish a new immutable sorted array;
/// dispatch stays lock-free over whichever array it loaded.
/// </summary>
public sealed class IoBus
{
    private readonly Lock _registrationLock = new();
    private Range[] _ranges = [];

    public string Name { get; }

    public IoBus(string name) => Name = name;

    /// <summary>Claims [start, start+length) for a device; overlapping claims are a VMM bug and throw.</summary>
    public void Register(ulong start, ulong length, IBusDevice device)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        ArgumentNullException.ThrowIfNull(device);
        if (start + length < start)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "range wraps around the address space");
        }

        lock (_registrationLock)
        {
            if (FindOverlap(start, length) is { } r)
            {
                throw new InvalidOperationException($"{Name} range 0x{start:x}+0x{length:x} overlaps 0x{r.Start:x}+0x{r.Length:x}");
            }

            Publish([.. _ranges.Append(new Range(start, length, device))]);
        }
    }

    /// <summary>
    /// Claims [start, start+length) unless it is empty, wraps, or overlaps a claim: for ranges a guest chooses
    /// (PCI BARs), where a bad choice leaves the range unclaimed rather than failing the VMM.
    /// </summary>
    public bool TryRegister(ulong start, ulong length, IBusDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (length == 0 || start + length < start)
        {
            return false;
        }

        lock (_registrationLock)
        {
            if (FindOverlap(start, length) is not null)
            {
                return false;
            }

            Publish([.. _ranges.Append(new Range(start, length, device))]);
            return true;
        }
    }

    /// <summary>Releases the range starting at <paramref name="start"/> if <paramref name="device"/> owns it; false when it does not.</summary>
    public bool Unregister(ulong start, IBusDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_registrationLock)
        {
            var remaining = _ranges.Where(r => !(r.Start == start && ReferenceEquals(r.Device, device))).ToArray();
            if (remaining.Length == _ranges.Length)
            {
                return false;
            }

            Publish(remaining);
            return true;
        }
    }

    private Range? FindOverlap(ulong start, ulong length) =>
        _ranges.FirstOrDefault(r => start < r.Start + r.Length && r.Start < start + length);

    private void Publish(Range[] ranges) => Volatile.Write(ref _ranges, [.. ranges.OrderBy(r => r.Start)]);

    /// <summary>Reads from the device at <paramref name="address"/>; unclaimed addresses read as all ones, like an open bus.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (Find(address, (ulong)data.Length) is { } range)
        {
            range.Device.Read(address - range.Start, data);
            return true;
        }

        data.Fill(0xff);
        return false;
    }

    /// <summary>Writes to the device at <paramref name="address"/>; writes to unclaimed addresses are dropped.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (Find(address, (ulong)data.Length) is { } range)
        {
            range.Device.Write(address - range.Start, data);
            return true;
        }

        return false;
    }

    private Range? Find(ulong address, ulong length)
    {
        var ranges = Volatile.Read(ref _ranges);
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var r = ranges[mid];
            if (address < r.Start)
            {
                hi = mid - 1;
            }
            else if (address - r.Start >= r.Length)
            {
                lo = mid + 1;
            }
            else
            {
                // An access that straddles the end of a device's range is not that device's.
                return length <= r.Length - (address - r.Start) ? r : null;
            }
        }

        return null;
    }

    private sealed record Range(ulong Start, ulong Length, IBusDevice Device);
}
