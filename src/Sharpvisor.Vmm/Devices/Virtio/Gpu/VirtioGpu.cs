using System.Buffers.Binary;
using Sharpvisor.Display;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// virtio-gpu in 2D mode (virtio 1.2, 5.7): the guest creates images in host memory, fills them from its own pages
/// and flushes rectangles of them onto 1 to 16 heads, each a <see cref="Framebuffer"/> the display servers read.
/// One thread serves both queues, so resources and scanouts need no lock. Host memory for the guest's images is
/// bounded by <see cref="MaxHostMemory"/>: a guest asking for more gets ERR_OUT_OF_MEMORY, not an OOM'd VMM.
/// </summary>
public sealed partial class VirtioGpu : ThreadedVirtioDevice
{
    /// <summary>Bytes of resource pixels a guest may hold at once (QEMU's max_hostmem default).</summary>
    public const long DefaultMaxHostMemory = 256L << 20;

    /// <summary>Resources a guest may hold at once, however small: each costs a dictionary entry.</summary>
    public const int MaxResources = 4096;

    /// <summary>The longest side a resource may have (2^29 - 1): a product of two sides times 4 bytes cannot wrap.</summary>
    public const uint MaxSide = (1u << 29) - 1;

    private const int ControlQueue = 0;
    private const int CursorQueue = 1;

    private readonly GpuScanout[] _scanouts;
    private readonly Dictionary<uint, GpuResource> _resources = [];
    private long _hostMemory;
    private long _commands;
    private long _errors;
    private uint _eventsRead;

    /// <param name="heads">One framebuffer per head (1 to 16), each with the size the head prefers.</param>
    /// <param name="maxHostMemory">Bytes of resource pixels the guest may hold.</param>
    public VirtioGpu(IReadOnlyList<Framebuffer> heads, long maxHostMemory = DefaultMaxHostMemory)
    {
        ArgumentNullException.ThrowIfNull(heads);
        if (heads.Count is < 1 or > GpuProtocol.MaxScanouts)
        {
            throw new ArgumentOutOfRangeException(nameof(heads), $"virtio-gpu has 1 to {GpuProtocol.MaxScanouts} heads, not {heads.Count}");
        }

        _scanouts = [.. heads.Select(f => new GpuScanout(f, f.Width, f.Height))];
        MaxHostMemory = maxHostMemory;
    }

    public long MaxHostMemory { get; }

    public int Heads => _scanouts.Length;

    public override VirtioDeviceType Type => VirtioDeviceType.Gpu;

    public override string Kind => "gpu";

    public override ulong DeviceFeatures => 0;

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [256, 16];

    /// <summary>events_read, events_clear, num_scanouts, num_capsets.</summary>
    public override int ConfigLength => 16;

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["commands"] = Interlocked.Read(ref _commands),
        ["errors"] = Interlocked.Read(ref _errors),
        ["host_memory_bytes"] = Interlocked.Read(ref _hostMemory),
    };

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(config, Volatile.Read(ref _eventsRead));
        BinaryPrimitives.WriteUInt32LittleEndian(config[8..], (uint)_scanouts.Length);
        config.Slice(offset, data.Length).CopyTo(data);
    }

    /// <summary>events_clear (offset 4) is the only writable field: the bits written are cleared from events_read.</summary>
    public override void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        if (offset == 4 && data.Length == 4)
        {
            var clear = BinaryPrimitives.ReadUInt32LittleEndian(data);
            uint current;
            do
            {
                current = Volatile.Read(ref _eventsRead);
            }
            while (Interlocked.CompareExchange(ref _eventsRead, current & ~clear, current) != current);
        }
    }

    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var control = activation.Queues[ControlQueue];
        var cursor = activation.Queues[CursorQueue];
        List<Kvm.EventFd> doorbells = [];
        if (control is not null)
        {
            doorbells.Add(control.Doorbell);
        }

        if (cursor is not null)
        {
            doorbells.Add(cursor.Doorbell);
        }

        if (_reloadOnActivate)
        {
            _reloadOnActivate = false;
            ReloadFromBacking(activation.Memory);
        }

        StartWorker(new DeviceWorker("virtio-gpu", activation, doorbells, [], _ =>
        {
            control?.ServeAvailable(chain => Serve(control, chain, activation));
            cursor?.ServeAvailable(chain => Serve(cursor, chain, activation));
        }));
    }

    /// <summary>A reset destroys every resource (the driver that made them is gone); the heads keep their last picture.</summary>
    protected override void OnReset()
    {
        _resources.Clear();
        _backingEntries = 0;
        Interlocked.Exchange(ref _hostMemory, 0);
        foreach (var scanout in _scanouts)
        {
            scanout.ResourceId = 0;
        }
    }
}
