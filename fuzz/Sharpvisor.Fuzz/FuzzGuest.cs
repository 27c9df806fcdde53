using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Fuzz;

/// <summary>
/// A small guest RAM for the virtio targets, laid out so every edge case of the address checks is near:
/// <code>
/// [0x000000, 0x010000)  low RAM: the input's memory image (rings, descriptor tables, buffers) is copied here
/// [0x010000, 0x020000)  a second region right after it (a buffer may run from one region into the next)
/// [0x020000, 0x100000)  a hole (no RAM)
/// [0x100000, 0x110000)  RAM above the hole
/// [4 GiB, 5 GiB)        with <c>huge</c>: lazily mapped RAM, so chains can add up to the 4 GiB limit (its pages
///                       cost nothing until touched, and are dropped after each input)
/// </code>
/// Every execution starts from the same bytes: <see cref="Reset"/> clears what a previous input or device wrote.
/// </summary>
internal sealed partial class FuzzGuest : IDisposable
{
    public const ulong LowBase = 0;
    public const ulong LowSize = 0x1_0000;
    public const ulong NextBase = LowBase + LowSize;
    public const ulong NextSize = 0x1_0000;
    public const ulong HighBase = 0x10_0000;
    public const ulong HighSize = 0x1_0000;
    public const ulong HugeBase = 0x1_0000_0000;
    public const ulong HugeSize = 0x4000_0000;

    private const int MadviseDontNeed = 4;

    private readonly GuestRegion? _huge;

    public FuzzGuest(bool huge = false)
    {
        List<(GuestAddress, ulong)> ranges =
        [
            (new GuestAddress(LowBase), LowSize),
            (new GuestAddress(NextBase), NextSize),
            (new GuestAddress(HighBase), HighSize),
        ];
        if (huge)
        {
            ranges.Add((new GuestAddress(HugeBase), HugeSize));
        }

        Memory = GuestMemory.Create(ranges);
        _huge = huge ? Memory.RegionContaining(new GuestAddress(HugeBase)) : null;
    }

    public GuestMemory Memory { get; }

    /// <summary>One doorbell for every <see cref="VirtioQueue"/> the targets build: nothing waits on it.</summary>
    public EventFd Doorbell { get; } = new(nonBlocking: true);

    public RecordingDeviceEvents Events { get; } = new();

    /// <summary>Zeroes guest RAM and copies <paramref name="image"/> to the start of low RAM.</summary>
    public void Reset(ReadOnlySpan<byte> image)
    {
        Memory.GetSpan(new GuestAddress(LowBase), (int)LowSize).Clear();
        Memory.GetSpan(new GuestAddress(NextBase), (int)NextSize).Clear();
        Memory.GetSpan(new GuestAddress(HighBase), (int)HighSize).Clear();
        image[..Math.Min(image.Length, (int)LowSize)].CopyTo(Memory.GetSpan(new GuestAddress(LowBase), (int)LowSize));
        if (_huge is not null)
        {
            // Drops whatever pages the last input dirtied; untouched ones cost nothing.
            _ = Madvise(_huge.Mapping.Address, (nuint)_huge.Size, MadviseDontNeed);
        }

        Events.Clear();
    }

    public void Write16(ulong address, ushort value)
    {
        if (Memory.IsValid(new GuestAddress(address), 2))
        {
            Memory.Write(new GuestAddress(address), value);
        }
    }

    /// <summary>
    /// The checks every popped chain must pass, whatever the guest wrote: its segments lie in RAM, its lengths add
    /// up, and it is no longer than the two tables (direct and indirect) it may have walked.
    /// </summary>
    public void CheckChain(DescriptorChain chain, ushort queueSize)
    {
        ulong readable = 0;
        foreach (var segment in chain.Readable)
        {
            CheckSegment(segment, chain);
            readable += segment.Length;
        }

        ulong writable = 0;
        foreach (var segment in chain.Writable)
        {
            CheckSegment(segment, chain);
            writable += segment.Length;
        }

        if (!(readable == chain.ReadableLength))
        {
            throw new Finding($"chain {chain.HeadIndex}: readable segments add up to {readable}, ReadableLength is {chain.ReadableLength}");
        }
        if (!(writable == chain.WritableLength))
        {
            throw new Finding($"chain {chain.HeadIndex}: writable segments add up to {writable}, WritableLength is {chain.WritableLength}");
        }
        if (!(readable + writable <= uint.MaxValue))
        {
            throw new Finding($"chain {chain.HeadIndex}: {readable + writable} bytes, over the 4 GiB limit");
        }
        if (!(chain.HeadIndex < queueSize))
        {
            throw new Finding($"chain head {chain.HeadIndex} is not below the queue size {queueSize}");
        }
        if (!(chain.DescriptorCount >= 1 && chain.DescriptorCount <= 2 * queueSize))
        {
            throw new Finding($"chain {chain.HeadIndex}: {chain.DescriptorCount} descriptors walked in a queue of {queueSize}");
        }
    }

    public void Dispose()
    {
        Doorbell.Dispose();
        Memory.Dispose();
    }

    private void CheckSegment(GuestSegment segment, DescriptorChain chain)
    {
        if (!(segment.Length > 0))
        {
            throw new Finding($"chain {chain.HeadIndex}: empty segment at {segment.Address}");
        }
        if (!(Memory.IsValid(segment.Address, segment.Length)))
        {
            throw new Finding($"chain {chain.HeadIndex}: segment [{segment.Address}, +0x{segment.Length:x}) is not inside one RAM region");
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}

/// <summary>Stands in for the transport: counts interrupts and remembers whether the device gave up.</summary>
internal sealed class RecordingDeviceEvents : IVirtioDeviceEvents
{
    public int QueueSignals { get; private set; }

    public int ConfigSignals { get; private set; }

    public string? Failure { get; private set; }

    public int GuestErrors { get; private set; }

    public bool DmaAllowed => true;

    public void SignalQueue(int queue) => QueueSignals++;

    public void SignalConfigChange() => ConfigSignals++;

    public void Fail(string message) => Failure ??= message;

    public void GuestError(string message) => GuestErrors++;

    public void Clear()
    {
        QueueSignals = 0;
        ConfigSignals = 0;
        Failure = null;
        GuestErrors = 0;
    }
}

/// <summary>Where one split virtqueue sits in low RAM and how it is configured, as the input chose.</summary>
internal static class QueueLayout
{
    /// <summary>
    /// Reads a queue's settings (1 byte of size, 2 of starting index) and packs its three rings from
    /// <paramref name="ringBase"/> on; returns the config and the first free 16-byte aligned address after the rings.
    /// </summary>
    public static (SplitVirtqueueConfig Config, ulong End) Read(ref FuzzReader reader, ulong ringBase, ushort maxSize, ulong features)
    {
        var maxLog = System.Numerics.BitOperations.Log2(maxSize);
        var size = (ushort)(1 << (reader.U8() % (maxLog + 1)));
        var start = reader.U16();
        return Pack(ringBase, size, features, start);
    }

    public static (SplitVirtqueueConfig Config, ulong End) Pack(ulong ringBase, ushort size, ulong features, ushort start = 0)
    {
        var descriptors = ringBase;
        var available = descriptors + SplitVirtqueue.DescriptorTableSize(size);
        var used = Align(available + SplitVirtqueue.AvailableRingSize(size), 4);
        var end = Align(used + SplitVirtqueue.UsedRingSize(size), 16);
        var config = new SplitVirtqueueConfig(size, new GuestAddress(descriptors), new GuestAddress(available), new GuestAddress(used), features, start, start);
        return (config, end);
    }

    public static ulong Align(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}

/// <summary>An invariant the code under test broke: the fuzzer reports it as a crash.</summary>
internal sealed class Finding : Exception
{
    public Finding()
    {
    }

    public Finding(string message)
        : base(message)
    {
    }

    public Finding(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new Finding(message);
        }
    }
}
