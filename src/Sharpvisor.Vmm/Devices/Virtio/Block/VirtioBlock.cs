using System.Buffers.Binary;
using Sharpvisor.Storage;
using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// virtio-blk (virtio 1.2, 5.2) on an <see cref="IBlockBackend"/>: one request queue served by one device thread,
/// so a slow disk stalls only that thread. The thread takes the requests waiting in the ring as a batch (up to
/// <see cref="MaxInFlight"/>) and runs them at once on up to <see cref="IoThreads"/> threads, as QEMU's and
/// Firecracker's asynchronous engines keep several requests at the disk: a queue depth of 32 from the guest reaches
/// the host's disk. A flush waits for the requests before it in the batch and those after wait for it (virtio orders
/// nothing else). Offers flush, discard and write-zeroes on writable disks, RO on read-only ones. The disk's size is
/// fixed when the device is made.
/// </summary>
public sealed partial class VirtioBlock : ThreadedVirtioDevice
{
    public const int SizeMaxBit = 1;
    public const int SegMaxBit = 2;
    public const int ReadOnlyBit = 5;
    public const int BlockSizeBit = 6;
    public const int FlushBit = 9;
    public const int DiscardBit = 13;
    public const int WriteZeroesBit = 14;

    public const ushort QueueSize = 256;

    /// <summary>Requests taken from the ring as one batch.</summary>
    public const int MaxInFlight = 32;

    /// <summary>Buffer bytes a batch takes at most (one request at least): what a quiesce or a reset may wait for.</summary>
    public const long MaxBatchBytes = 64L << 20;

    /// <summary>Threads a batch runs on at most (the device thread among them).</summary>
    public const int IoThreads = 4;

    private const int ConfigSize = 0x3C;

    private readonly IBlockBackend _disk;
    private readonly string _id;
    private readonly byte[] _config = new byte[ConfigSize];
    private readonly DescriptorChain[] _batch = [.. Enumerable.Range(0, MaxInFlight).Select(_ => new DescriptorChain())];
    private readonly uint[] _written = new uint[MaxInFlight];
    private readonly BatchRunner _runner = new("virtio-blk", IoThreads - 1);

    public VirtioBlock(IBlockBackend disk, string id)
    {
        ArgumentNullException.ThrowIfNull(disk);
        ArgumentNullException.ThrowIfNull(id);
        _disk = disk;
        _id = id;
        DeviceFeatures = (1UL << SegMaxBit) | (1UL << BlockSizeBit) | (1UL << FlushBit)
            | (disk.ReadOnly ? 1UL << ReadOnlyBit : (1UL << DiscardBit) | (1UL << WriteZeroesBit));

        var config = _config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(config, disk.Size / BlockRequest.SectorSize); // capacity
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x0C..], QueueSize - 2);              // seg_max
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x14..], BlockRequest.SectorSize);    // blk_size
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x24..], BlockRequest.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x28..], BlockRequest.MaxDiscardSegments);
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x2C..], 1);                          // discard alignment
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x30..], BlockRequest.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[0x34..], BlockRequest.MaxDiscardSegments);
        config[0x38] = 1; // write_zeroes_may_unmap
    }

    public override VirtioDeviceType Type => VirtioDeviceType.Block;

    public override string Kind => "block";

    public override ulong DeviceFeatures { get; }

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [QueueSize];

    public override int ConfigLength => ConfigSize;

    /// <summary>Requests completed with any status; for metrics and tests.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    private long _completed;

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal) { ["completed"] = Completed };

    public override void ReadConfig(int offset, Span<byte> data) => _config.AsSpan(offset, data.Length).CopyTo(data);


    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        if (activation.Queues[0] is not { } queue)
        {
            return;
        }

        StartWorker(new DeviceWorker("virtio-blk", activation, [queue.Doorbell], [], _ => Drain(queue)));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _runner.Dispose();
            _disk.Dispose();
        }
    }

    private void Drain(VirtioQueue queue) => queue.ServeAvailableInBatches(_batch, _written, MaxBatchBytes, count =>
    {
        // Runs between flushes go at once; each flush alone, after what came before it and before what follows.
        var start = 0;
        for (var i = 0; i < count; i++)
        {
            if (BlockRequest.IsFlush(_batch[i], queue.Memory))
            {
                Execute(queue, start, i);
                Execute(queue, i, i + 1);
                start = i + 1;
            }
        }

        Execute(queue, start, count);
    });

    /// <summary>Runs requests [<paramref name="from"/>, <paramref name="to"/>) of the batch, at once when there are several.</summary>
    private void Execute(VirtioQueue queue, int from, int to)
    {
        _runner.Run(from, to, i => _written[i] = BlockRequest.Execute(_batch[i], queue.Memory, _disk, _id));
        Interlocked.Add(ref _completed, Math.Max(0, to - from));
    }
}
