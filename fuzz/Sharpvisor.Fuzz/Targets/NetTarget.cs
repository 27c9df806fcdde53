using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// virtio-net's transmit and receive paths (VirtioNet's Transmit and Receive handlers) against a hostile driver
/// and a backend that delivers frames of any size. Input:
/// <code>
/// u8  flags: 1 INDIRECT_DESC, 2 EVENT_IDX, 4 the backend refuses to send
/// u8  rx queue size selector (1..256), u16 start index; the same for tx (rings packed from address 0, rx first)
/// u16 image length, then the image: low guest RAM from address 0
/// ops (none = a 60-byte frame arrives, transmit, receive):
///     0 transmit   1 receive   2 a frame arrives from the host (u16 length - 1, u8 fill)   3 guest writes u16 at u16 offset
/// </code>
/// Expected: VirtqueueException. A finding: any other exception, a frame handed to the backend that is empty or
/// over 64 KiB, a frame the backend gave that the device lost track of.
/// </summary>
internal sealed class NetTarget : IFuzzTarget
{
    private const int MaxOps = 64;

    private readonly FuzzGuest _guest = new(huge: true);
    private readonly ScriptedNetBackend _backend = new();
    private readonly VirtioNet _net;
    private readonly DeviceHandler _transmit;
    private readonly DeviceHandler _receive;

    public NetTarget()
    {
        _net = new VirtioNet(_backend, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        _transmit = new DeviceHandler(_net, "Transmit");
        _receive = new DeviceHandler(_net, "Receive");
    }

    public string Name => "net";

    public string Description => "virtio-net transmit and receive handlers against hostile rings and host frames up to 64 KiB";

    public bool IsExpected(Exception exception) => exception is VirtqueueException;

    public void Execute(ReadOnlySpan<byte> input)
    {
        var reader = new FuzzReader(input);
        var flags = reader.U8();
        var features = ((flags & 1) != 0 ? VirtqueueFeatures.IndirectDescriptors : 0) | ((flags & 2) != 0 ? VirtqueueFeatures.EventIndex : 0);
        var (rxConfig, rxEnd) = QueueLayout.Read(ref reader, 0, VirtioNet.QueueSize, features);
        var (txConfig, _) = QueueLayout.Read(ref reader, rxEnd, VirtioNet.QueueSize, features);
        _guest.Reset(reader.Bytes(reader.U16()));
        _backend.Reset(refuseSends: (flags & 4) != 0);

        var memory = _guest.Memory;
        var rx = new VirtioQueue(0, new SplitVirtqueue(memory, rxConfig), _guest.Doorbell, memory, _guest.Events);
        var tx = new VirtioQueue(1, new SplitVirtqueue(memory, txConfig), _guest.Doorbell, memory, _guest.Events);

        // An activation without both queues starts no thread: it only resets the device's receive state.
        _net.Activate(new VirtioActivation(memory, features, [null, null], _guest.Events));
        var activation = new VirtioActivation(memory, features, [rx, tx], _guest.Events);
        if (reader.IsEmpty)
        {
            _backend.Arrive(60, 0xEE);
            _ = _transmit.Invoke(tx, activation);
            _ = _receive.Invoke(rx, activation);
            return;
        }

        for (var ops = 0; ops < MaxOps && !reader.IsEmpty; ops++)
        {
            switch (reader.U8() % 4)
            {
                case 0:
                    _ = _transmit.Invoke(tx, activation);
                    break;
                case 1:
                    _ = _receive.Invoke(rx, activation);
                    break;
                case 2:
                    _backend.Arrive(reader.U16() + 1, reader.U8());
                    break;
                default:
                    _guest.Write16(reader.U16(), reader.U16());
                    break;
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        // One transmit of a 60-byte frame (header and frame in two descriptors), one receive buffer of 1526 bytes.
        var (rx, rxEnd) = QueueLayout.Pack(0, 4, 0);
        var (tx, txEnd) = QueueLayout.Pack(rxEnd, 4, 0);
        var image = new SeedImage();
        var data = txEnd;
        image.Descriptor(tx, 0, data, VirtioNet.HeaderSize, DescriptorFlags.Next, 1);
        image.Descriptor(tx, 1, data + 16, 60, DescriptorFlags.None);
        image.Write(data + 16, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06]);
        image.Publish(tx, 0);
        image.Descriptor(rx, 0, FuzzGuest.NextBase - 1000, 1526, DescriptorFlags.Write);
        image.Publish(rx, 0);
        yield return ("tx-rx", new SeedBuilder().U8(0).U8(2).U16(0).U8(2).U16(0).Image(image).ToArray());

        // Indirect and EVENT_IDX; a 64 KiB frame from the host into a buffer too small, then one that fits; a runt
        // and an oversized transmit; the host refuses sends.
        var features = VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex;
        (rx, rxEnd) = QueueLayout.Pack(0, 8, features);
        (tx, txEnd) = QueueLayout.Pack(rxEnd, 8, features);
        image = new SeedImage();
        data = txEnd;
        image.Descriptor(tx, 0, data, 8, DescriptorFlags.None);
        image.Descriptor(tx, 1, data, 0xFFFF, DescriptorFlags.Next, 2);
        image.Descriptor(tx, 2, FuzzGuest.NextBase, 0x10000, DescriptorFlags.None);
        image.Descriptor(tx, 3, data + 64, 32, DescriptorFlags.Indirect);
        image.Descriptor(data + 64, 0, data, VirtioNet.HeaderSize, DescriptorFlags.Next, 1);
        image.Descriptor(data + 64, 1, data + 128, 100, DescriptorFlags.None);
        image.Publish(tx, 0, 1, 3);
        image.Descriptor(rx, 0, data + 256, 100, DescriptorFlags.Write);
        image.Descriptor(rx, 1, data + 512, VirtioNet.HeaderSize, DescriptorFlags.Next | DescriptorFlags.Write, 2);
        image.Descriptor(rx, 2, FuzzGuest.HighBase, 0x10000, DescriptorFlags.Write);
        image.Publish(rx, 0, 1);
        yield return ("big-frames-indirect", new SeedBuilder().U8(3 | 4).U8(3).U16(0).U8(3).U16(0).Image(image)
            .U8(2).U16(0xFFFF).U8(0x11).U8(1).U8(2).U16(1499).U8(0x22).U8(1).U8(0).ToArray());

        // A transmit of almost 4 GiB (four overlapping 1 GiB buffers at 4 GiB); a receive buffer of 1 GiB.
        (rx, rxEnd) = QueueLayout.Pack(0, 2, 0);
        (tx, txEnd) = QueueLayout.Pack(rxEnd, 4, 0);
        image = new SeedImage();
        for (var i = 0; i < 4; i++)
        {
            image.Descriptor(tx, i, FuzzGuest.HugeBase, 0x3FFF_FFFF, i < 3 ? DescriptorFlags.Next : DescriptorFlags.None, i + 1);
        }

        image.Publish(tx, 0);
        image.Descriptor(rx, 1, FuzzGuest.HugeBase + 0x1000, 0x3FFF_F000, DescriptorFlags.Write);
        image.Publish(rx, 1);
        yield return ("near-4g-transmit", new SeedBuilder().U8(0).U8(1).U16(0).U8(2).U16(0).Image(image).ToArray());
    }
}

/// <summary>The host side of the NIC: frames the input says arrived, and a check of every frame the guest sends.</summary>
internal sealed class ScriptedNetBackend : INetBackend
{
    private readonly EventFd _readable = new(nonBlocking: true);
    private readonly Queue<(int Length, byte Fill)> _arrivals = new();
    private bool _refuseSends;

    public SafeHandle ReadableHandle => _readable.Handle;

    public void Reset(bool refuseSends)
    {
        _arrivals.Clear();
        _refuseSends = refuseSends;
    }

    public void Arrive(int length, byte fill)
    {
        if (_arrivals.Count < 64)
        {
            _arrivals.Enqueue((length, fill));
        }
    }

    public int Receive(Span<byte> frame)
    {
        if (!_arrivals.TryDequeue(out var arrival))
        {
            return 0;
        }

        // A TAP hands over at most the buffer it was given; a longer frame is cut to it.
        var length = Math.Min(arrival.Length, frame.Length);
        frame[..length].Fill(arrival.Fill);
        return length;
    }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (frame.IsEmpty || frame.Length > VirtioNet.MaxFrame)
        {
            throw new Finding($"the device sent a {frame.Length}-byte frame");
        }

        return !_refuseSends;
    }

    public void Dispose() => _readable.Dispose();
}
