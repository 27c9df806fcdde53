using Sharpvisor.Storage;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Block;
using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// virtio-blk requests (BlockRequest.Execute) served the way VirtioBlock's thread serves them
/// (VirtioQueue.ServeAvailable), on a disk in memory. Input:
/// <code>
/// u8  flags: 1 INDIRECT_DESC, 2 EVENT_IDX, 4 read-only disk, 8 the disk fails (IOException) at access N,
///            16 the disk is not a whole number of sectors
/// u8  disk size in sectors (0..255), u8 extra bytes (with flag 16), u8 N
/// u8  queue size selector (1..256), u16 start index; the rings are packed at address 0
/// u16 image length, then the image: low guest RAM from address 0
/// ops (none = serve once): 0 serve the queue, 1 guest writes u16 at u16 offset
/// </code>
/// Expected: VirtqueueException (the device stops and needs a reset). A finding: any other exception, a disk access
/// outside the image or a write to a read-only one, a used length past the chain's writable part, a status byte
/// that is not OK, IOERR or UNSUPP.
/// </summary>
internal sealed class BlockTarget : IFuzzTarget
{
    private const string Id = "fuzz-disk-0123456789abcdef";
    private const int MaxOps = 64;

    private readonly FuzzGuest _guest = new(huge: true);
    private readonly MemoryDisk _disk = new();

    public string Name => "block";

    public string Description => "virtio-blk request execution (read, write, flush, get-id, discard, write-zeroes) on a memory disk";

    public bool IsExpected(Exception exception) => exception is VirtqueueException;

    public void Execute(ReadOnlySpan<byte> input)
    {
        var reader = new FuzzReader(input);
        var flags = reader.U8();
        var features = ((flags & 1) != 0 ? VirtqueueFeatures.IndirectDescriptors : 0) | ((flags & 2) != 0 ? VirtqueueFeatures.EventIndex : 0);
        var sectors = reader.U8();
        var extra = reader.U8();
        var failAt = reader.U8();
        var size = ((ulong)sectors * BlockRequest.SectorSize) + ((flags & 16) != 0 ? extra : 0UL);
        _disk.Reset(size, readOnly: (flags & 4) != 0, failAt: (flags & 8) != 0 ? failAt : -1);
        var (config, _) = QueueLayout.Read(ref reader, 0, VirtioBlock.QueueSize, features);
        _guest.Reset(reader.Bytes(reader.U16()));

        var memory = _guest.Memory;
        var queue = new VirtioQueue(0, new SplitVirtqueue(memory, config), _guest.Doorbell, memory, _guest.Events);
        if (reader.IsEmpty)
        {
            Serve(queue);
            return;
        }

        for (var ops = 0; ops < MaxOps && !reader.IsEmpty; ops++)
        {
            if (reader.U8() % 2 == 0)
            {
                Serve(queue);
            }
            else
            {
                _guest.Write16(reader.U16(), reader.U16());
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        const uint TypeIn = BlockRequest.TypeIn, TypeOut = BlockRequest.TypeOut;

        // Read two sectors into a buffer that runs into the next region, and a write, on a 16-sector disk.
        var (q, end) = QueueLayout.Pack(0, 8, 0);
        var image = new SeedImage();
        var header = end;
        Request(image, header, TypeIn, 3);
        image.Descriptor(q, 0, header, 16, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, FuzzGuest.NextBase - 512, 1024, DescriptorFlags.Next | DescriptorFlags.Write, 2);
        image.Descriptor(q, 2, header + 16, 1, DescriptorFlags.Write);
        Request(image, header + 32, TypeOut, 15);
        image.Descriptor(q, 3, header + 32, 16, DescriptorFlags.Next, 4);
        image.Descriptor(q, 4, header + 64, 512, DescriptorFlags.Next, 5);
        image.Descriptor(q, 5, header + 48, 1, DescriptorFlags.Write);
        image.Publish(q, 0, 3);
        yield return ("read-write", new SeedBuilder().U8(0).U8(16).U8(0).U8(0).U8(3).U16(0).Image(image).ToArray());

        // Flush, get-id into a short buffer, an unknown type, through an indirect table, EVENT_IDX.
        (q, end) = QueueLayout.Pack(0, 4, VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex);
        image = new SeedImage();
        var table = end;
        var data = end + 256;
        Request(image, data, BlockRequest.TypeFlush, 0);
        Request(image, data + 16, BlockRequest.TypeGetId, 0);
        Request(image, data + 32, 99, 0);
        image.Descriptor(q, 0, data, 16, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, data + 100, 1, DescriptorFlags.Write);
        image.Descriptor(q, 2, table, 48, DescriptorFlags.Indirect);
        image.Descriptor(table, 0, data + 16, 16, DescriptorFlags.Next, 1);
        image.Descriptor(table, 1, data + 128, 12, DescriptorFlags.Next | DescriptorFlags.Write, 2);
        image.Descriptor(table, 2, data + 140, 1, DescriptorFlags.Write);
        image.Descriptor(q, 3, data + 32, 16, DescriptorFlags.Next, 1);
        image.Publish(q, 0, 2, 3);
        yield return ("flush-getid-indirect", new SeedBuilder().U8(3).U8(8).U8(0).U8(0).U8(2).U16(0).Image(image).ToArray());

        // Discard and write-zeroes with two segments each, one past the end of the disk.
        (q, end) = QueueLayout.Pack(0, 4, 0);
        image = new SeedImage();
        data = end;
        Request(image, data, BlockRequest.TypeDiscard, 0);
        Segment(image, data + 16, 1, 2, 0);
        Segment(image, data + 32, 30, 4, 0);
        Request(image, data + 64, BlockRequest.TypeWriteZeroes, 0);
        Segment(image, data + 80, 0, 8, 1);
        Segment(image, data + 96, 8, 24, 0);
        image.Descriptor(q, 0, data, 48, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, data + 200, 1, DescriptorFlags.Write);
        image.Descriptor(q, 2, data + 64, 48, DescriptorFlags.Next, 3);
        image.Descriptor(q, 3, data + 201, 1, DescriptorFlags.Write);
        image.Publish(q, 0, 2);
        yield return ("discard-write-zeroes", new SeedBuilder().U8(0).U8(32).U8(0).U8(0).U8(2).U16(0).Image(image).ToArray());

        // A read-only disk of 7.5 sectors that fails at its second access, a write refused, a read at the end.
        (q, end) = QueueLayout.Pack(0, 4, 0, 0xFFFF);
        image = new SeedImage();
        data = end;
        Request(image, data, TypeOut, 0);
        Request(image, data + 16, TypeIn, 6);
        image.Descriptor(q, 0, data, 16, DescriptorFlags.Next, 1);
        image.Descriptor(q, 1, data + 64, 513, DescriptorFlags.Write);
        image.Descriptor(q, 2, data + 16, 16, DescriptorFlags.Next, 3);
        image.Descriptor(q, 3, data + 600, 513, DescriptorFlags.Write);
        image.Publish(q, 0, 2);
        yield return ("read-only-failing", new SeedBuilder().U8(4 | 8 | 16).U8(7).U8(255).U8(2).U8(2).U16(0xFFFF).Image(image)
            .U8(0).U8(1).U16((int)(q.AvailableRing.Value + 2)).U16(1).U8(0).ToArray());

        // A read of almost 4 GiB (header and status included) into four overlapping buffers of about 1 GiB at 4 GiB,
        // and one of 1 GiB exactly.
        (q, end) = QueueLayout.Pack(0, 8, 0);
        image = new SeedImage();
        data = end;
        Request(image, data, TypeIn, 0);
        image.Descriptor(q, 0, data, 16, DescriptorFlags.Next, 1);
        for (var i = 1; i <= 4; i++)
        {
            image.Descriptor(q, i, FuzzGuest.HugeBase, i < 4 ? 0x3FFF_FFFFu : 0x3FFF_FF00u, DescriptorFlags.Next | DescriptorFlags.Write, i + 1);
        }

        image.Descriptor(q, 5, data + 32, 1, DescriptorFlags.Write);
        image.Descriptor(q, 6, data, 16, DescriptorFlags.Next, 7);
        image.Descriptor(q, 7, FuzzGuest.HugeBase, 0x4000_0000, DescriptorFlags.Next | DescriptorFlags.Write, 5);
        image.Publish(q, 0, 6);
        yield return ("near-4g-read", new SeedBuilder().U8(0).U8(255).U8(0).U8(0).U8(3).U16(0).Image(image).ToArray());
    }

    private static void Request(SeedImage image, ulong at, uint type, ulong sector)
    {
        image.Write32(at, type);
        image.Write64(at + 8, sector);
    }

    private static void Segment(SeedImage image, ulong at, ulong sector, uint count, uint flags)
    {
        image.Write64(at, sector);
        image.Write32(at + 8, count);
        image.Write32(at + 12, flags);
    }

    private void Serve(VirtioQueue queue)
    {
        var memory = _guest.Memory;
        queue.ServeAvailable(chain =>
        {
            var writable = chain.WritableLength;
            var written = BlockRequest.Execute(chain, memory, _disk, Id);
            if (writable == 0)
            {
                if (written != 0)
                {
                    throw new Finding($"request {chain.HeadIndex} has no writable byte, yet {written} were reported written");
                }

                return written;
            }

            if (written == 0 || written > writable)
            {
                throw new Finding($"request {chain.HeadIndex}: {written} bytes reported written into a {writable}-byte writable part");
            }

            var last = chain.Writable[^1];
            var status = memory.Read<byte>(last.Address + (last.Length - 1UL));
            if (status > BlockRequest.StatusUnsupported)
            {
                throw new Finding($"request {chain.HeadIndex}: status byte {status}");
            }

            return written;
        });
    }
}

/// <summary>A disk in memory that checks what the device promises: nothing outside the image, no write to a read-only one.</summary>
internal sealed class MemoryDisk : IBlockBackend
{
    private readonly byte[] _bytes = new byte[(256 * BlockRequest.SectorSize) + 256];
    private int _accesses;
    private int _failAt = -1;

    public ulong Size { get; private set; }

    public bool ReadOnly { get; private set; }

    public void Reset(ulong size, bool readOnly, int failAt)
    {
        Array.Clear(_bytes, 0, (int)Size);
        Size = size;
        ReadOnly = readOnly;
        _failAt = failAt;
        _accesses = 0;
    }

    public void Read(long offset, Span<byte> destination)
    {
        Access(offset, destination.Length, write: false);
        _bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        Access(offset, source.Length, write: true);
        source.CopyTo(_bytes.AsSpan((int)offset));
    }

    public void Flush() => Access(0, 0, write: false);

    public void Discard(long offset, long length) => Access(offset, length, write: true);

    public void WriteZeroes(long offset, long length)
    {
        Access(offset, length, write: true);
        _bytes.AsSpan((int)offset, (int)length).Clear();
    }

    public void Dispose()
    {
    }

    private void Access(long offset, long length, bool write)
    {
        if (offset < 0 || length < 0 || (ulong)offset > Size || (ulong)length > Size - (ulong)offset)
        {
            throw new Finding($"disk access of {length} bytes at offset {offset} is outside the {Size}-byte image");
        }

        if (write && ReadOnly)
        {
            throw new Finding($"write of {length} bytes at offset {offset} to a read-only disk");
        }

        if (++_accesses == _failAt)
        {
            throw new IOException("injected disk failure");
        }
    }
}
