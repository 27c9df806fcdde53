namespace Sharpvisor.Vmm.Bus;

/// <summary>
/// One registry of address ranges (either the port-I/O space or the MMIO space). A vCPU exit becomes one
/// <see cref="Read"/> or <see cref="Write"/>. Registration happens while the machine is built; dispatch is
/// lock-free over an immutable sorted array.
/// </summary>
public sealed class IoBus
{
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

        foreach (var r in _ranges)
        {
            if (start < r.Start + r.Length && r.Start < start + length)
            {
                throw new InvalidOperationException($"{Name} range 0x{start:x}+0x{length:x} overlaps 0x{r.Start:x}+0x{r.Length:x}");
            }
        }

        _ranges = [.. _ranges.Append(new Range(start, length, device)).OrderBy(r => r.Start)];
    }

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
        var ranges = _ranges;
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
