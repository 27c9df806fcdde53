using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// The split virtqueue walker (SplitVirtqueue, DescriptorChain) against a hostile driver. Input:
/// <code>
/// u8  flags: 1 INDIRECT_DESC, 2 EVENT_IDX, 4 raw queue settings (else rings packed at address 0)
///     packed: u8 size selector (1..1024), u16 start index
///     raw:    u16 size, u64 descriptor table, u64 avail ring, u64 used ring, u16 next avail, u16 chains in flight
/// u16 image length, then the image: low guest RAM from address 0
/// ops (rest, one byte each plus arguments; none = pop and push until the ring is empty):
///     0 pop into the device's reused chain   1 pop into a new chain      2 push the oldest popped chain (u32 len)
///     3 guest writes u16 at u16 offset       4 NeedsNotification         5 EnableNotifications
///     6 DisableNotifications                 7 copy from readable (u32 offset, u16 length)
///     8 copy to writable (u32 offset, u16 length)                        9 ReadExactly (u32 offset, u16 length)
/// </code>
/// RAM has a second region right after the first, one above a hole and 1 GiB at 4 GiB, so lengths can reach the
/// 4 GiB limit. Expected: VirtqueueException (the device then needs a reset; the queue must not have advanced). A finding: any other exception (GuestMemoryException included: every access is
/// checked before it is made), a chain whose segments leave RAM or whose lengths do not add up, a copy that moves
/// a different number of bytes than the chain holds.
/// </summary>
internal sealed class QueueTarget : IFuzzTarget
{
    private const int MaxOps = 4096;
    private const int MaxKept = 64;

    private readonly FuzzGuest _guest = new(huge: true);
    private readonly DescriptorChain _reused = new();
    private readonly Queue<DescriptorChain> _popped = new();
    private readonly byte[] _copy = new byte[ushort.MaxValue];

    public string Name => "queue";

    public string Description => "split virtqueue walker: descriptor tables, indirect tables, avail/used rings, copies";

    public bool IsExpected(Exception exception) => exception is VirtqueueException;

    public void Execute(ReadOnlySpan<byte> input)
    {
        var reader = new FuzzReader(input);
        var flags = reader.U8();
        var features = ((flags & 1) != 0 ? VirtqueueFeatures.IndirectDescriptors : 0) | ((flags & 2) != 0 ? VirtqueueFeatures.EventIndex : 0);
        SplitVirtqueueConfig config;
        if ((flags & 4) != 0)
        {
            var size = reader.U16();
            var descriptors = new GuestAddress(reader.U64());
            var available = new GuestAddress(reader.U64());
            var used = new GuestAddress(reader.U64());
            var nextAvailable = reader.U16();

            // A restored queue may have chains in flight, never more than it holds (the VMM, not the guest, says so).
            var inFlight = (ushort)(reader.U16() % (size + 1));
            config = new SplitVirtqueueConfig(size, descriptors, available, used, features, nextAvailable, (ushort)(nextAvailable - inFlight));
        }
        else
        {
            (config, _) = QueueLayout.Read(ref reader, 0, 1024, features);
        }

        _guest.Reset(reader.Bytes(reader.U16()));
        _popped.Clear();
        var memory = _guest.Memory;

        // Validate must agree with the constructor, and must never throw for any settings.
        var error = SplitVirtqueue.Validate(memory, config);
        if (!SplitVirtqueue.TryCreate(memory, config, out var queue, out var tryError))
        {
            if (error is null || tryError != error)
            {
                throw new Finding($"TryCreate refused ({tryError}) what Validate accepted ({error})");
            }

            return;
        }

        if (error is not null)
        {
            throw new Finding($"TryCreate accepted what Validate refused: {error}");
        }

        if (reader.IsEmpty)
        {
            Drain(queue);
            return;
        }

        DescriptorChain? last = null;
        for (var ops = 0; ops < MaxOps && !reader.IsEmpty; ops++)
        {
            switch (reader.U8() % 10)
            {
                case 0:
                    last = Pop(queue, _reused) ? _reused : last;
                    break;
                case 1:
                    var chain = new DescriptorChain();
                    if (Pop(queue, chain))
                    {
                        last = chain;
                    }

                    break;
                case 2:
                    Push(queue, reader.U32());
                    break;
                case 3:
                    _guest.Write16(reader.U16(), reader.U16());
                    break;
                case 4:
                    _ = queue.NeedsNotification(memory);
                    break;
                case 5:
                    _ = queue.EnableNotifications(memory);
                    break;
                case 6:
                    queue.DisableNotifications(memory);
                    break;
                case 7:
                    CopyFrom(last, reader.U32(), reader.U16());
                    break;
                case 8:
                    CopyTo(last, reader.U32(), reader.U16());
                    break;
                default:
                    ReadExactly(last, reader.U32(), reader.U16());
                    break;
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        // One readable and one writable buffer, published once.
        var (q, end) = QueueLayout.Pack(0, 8, 0);
        var image = new SeedImage();
        image.Descriptor(q, 0, end, 64, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, end + 64, 64, DescriptorFlags.Write);
        image.Publish(q, 0);
        yield return ("two-descriptors", new SeedBuilder().U8(0).U8(3).U16(0).Image(image).ToArray());

        // An indirect table of three entries, a buffer crossing into the next region, EVENT_IDX; then scripted ops.
        (q, end) = QueueLayout.Pack(0, 16, VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex);
        image = new SeedImage();
        var table = end;
        image.Descriptor(q, 2, table, 48, DescriptorFlags.Indirect);
        image.Descriptor(table, 0, end + 256, 32, DescriptorFlags.Next, 1);
        image.Descriptor(table, 1, FuzzGuest.NextBase - 16, 48, DescriptorFlags.Next | DescriptorFlags.Write, 2);
        image.Descriptor(table, 2, FuzzGuest.HighBase, 100, DescriptorFlags.Write);
        image.Descriptor(q, 5, end + 512, 16);
        image.Publish(q, 2, 5);
        yield return ("indirect-event-idx", new SeedBuilder().U8(3).U8(4).U16(0).Image(image)
            .U8(0).U8(7).U32(4).U16(40).U8(8).U32(8).U16(90).U8(9).U32(0).U16(33).U8(2).U32(100).U8(4)
            .U8(1).U8(2).U32(16).U8(5).U8(6).U8(0).ToArray());

        // A chain whose length nears 4 GiB in the 1 GiB region above 4 GiB, at a start index near the wrap.
        (q, end) = QueueLayout.Pack(0, 4, 0, 0xFFFE);
        image = new SeedImage();
        image.Descriptor(q, 0, FuzzGuest.HugeBase, 0x3FFF_FFFF, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, FuzzGuest.HugeBase, 0x3FFF_FFFF, DescriptorFlags.Next, 2);
        image.Descriptor(q, 2, FuzzGuest.HugeBase, 0x3FFF_FFFF, DescriptorFlags.Next | DescriptorFlags.Write, 3);
        image.Descriptor(q, 3, FuzzGuest.HugeBase + 1, 0x3FFF_FFFF, DescriptorFlags.Write);
        image.Publish(q, 0, 0);
        yield return ("near-4g-wrapping-index", new SeedBuilder().U8(0).U8(2).U16(0xFFFE).Image(image)
            .U8(0).U8(7).U32(0x7FFF_FFF0).U16(64).U8(8).U32(0x3FFF_FFF0).U16(64).U8(2).U32(0).U8(0).ToArray());

        // Raw settings: rings in other regions, a loop in the table.
        image = new SeedImage();
        image.Descriptor(0x100, 0, 0x2000, 8, DescriptorFlags.Next, 1);
        image.Descriptor(0x100, 1, 0x2000, 8, DescriptorFlags.Next, 0);
        image.Write16(0x202, 1);
        yield return ("raw-settings-loop", new SeedBuilder().U8(4).U16(2).U64(0x100).U64(0x200).U64(FuzzGuest.HighBase).U16(0).U16(0).Image(image).ToArray());

        // Raw settings at the top of the 1 GiB region: a ring that would cross its end.
        yield return ("raw-settings-edge", new SeedBuilder().U8(5).U16(256).U64(FuzzGuest.HugeBase + FuzzGuest.HugeSize - 4096)
            .U64(FuzzGuest.NextBase - 2).U64(FuzzGuest.HighBase + 0x100).U16(7).U16(3).U16(0).U8(0).U8(2).U32(1).ToArray());
    }

    private bool Pop(SplitVirtqueue queue, DescriptorChain chain)
    {
        var before = queue.NextAvailableIndex;
        bool popped;
        try
        {
            popped = queue.TryPop(_guest.Memory, chain);
        }
        catch (VirtqueueException)
        {
            if (queue.NextAvailableIndex != before)
            {
                throw new Finding($"a refused chain moved the queue from {before} to {queue.NextAvailableIndex}");
            }

            throw;
        }

        if (!popped)
        {
            if (queue.NextAvailableIndex != before)
            {
                throw new Finding("an empty pop moved the queue");
            }

            return false;
        }

        _guest.CheckChain(chain, queue.Size);
        if (!ReferenceEquals(chain, _reused) && _popped.Count < MaxKept)
        {
            _popped.Enqueue(chain);
        }
        else if (ReferenceEquals(chain, _reused))
        {
            // The reused chain is overwritten by the next pop: push it back now, as a device thread does.
            queue.Push(_guest.Memory, chain.HeadIndex, chain.WritableLength);
        }

        return true;
    }

    private void Push(SplitVirtqueue queue, uint length)
    {
        if (queue.InFlight == 0)
        {
            _popped.Clear(); // a restored queue's in-flight chains were completed by pushes of other heads
        }
        else if (_popped.TryDequeue(out var chain))
        {
            queue.Push(_guest.Memory, chain.HeadIndex, length);
        }
        else
        {
            // Restored with chains in flight (next used behind next avail): the device may complete any head.
            queue.Push(_guest.Memory, (ushort)(length % queue.Size), length);
        }
    }

    private void Drain(SplitVirtqueue queue)
    {
        for (var i = 0; i < (2 * queue.Size) + 2 && Pop(queue, _reused); i++)
        {
            _ = queue.NeedsNotification(_guest.Memory);
        }

        _ = queue.EnableNotifications(_guest.Memory);
    }

    private void CopyFrom(DescriptorChain? chain, uint offset, ushort length)
    {
        if (chain is null)
        {
            return;
        }

        var copied = chain.CopyFromReadable(_guest.Memory, _copy.AsSpan(0, length), offset);
        var expected = offset >= chain.ReadableLength ? 0 : Math.Min(length, chain.ReadableLength - offset);
        if (copied != expected)
        {
            throw new Finding($"CopyFromReadable({length} at {offset}) copied {copied} of a {chain.ReadableLength}-byte readable part");
        }
    }

    private void CopyTo(DescriptorChain? chain, uint offset, ushort length)
    {
        if (chain is null)
        {
            return;
        }

        _copy.AsSpan(0, length).Fill(0xA5);
        var copied = chain.CopyToWritable(_guest.Memory, _copy.AsSpan(0, length), offset);
        var expected = offset >= chain.WritableLength ? 0 : Math.Min(length, chain.WritableLength - offset);
        if (copied != expected)
        {
            throw new Finding($"CopyToWritable({length} at {offset}) copied {copied} into a {chain.WritableLength}-byte writable part");
        }
    }

    private void ReadExactly(DescriptorChain? chain, uint offset, ushort length)
    {
        if (chain is null)
        {
            return;
        }

        var fits = length == 0 || (offset <= chain.ReadableLength && length <= chain.ReadableLength - offset);
        try
        {
            chain.ReadExactly(_guest.Memory, _copy.AsSpan(0, length), offset);
        }
        catch (VirtqueueException) when (!fits)
        {
            return;
        }

        if (!fits)
        {
            throw new Finding($"ReadExactly({length} at {offset}) succeeded on a {chain.ReadableLength}-byte readable part");
        }
    }
}
