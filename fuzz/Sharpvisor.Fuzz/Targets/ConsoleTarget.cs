using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.Devices.Virtio.Queue;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// virtio-console's transmit and receive handlers (VirtioConsole's Transmit and Receive) against a hostile driver,
/// with host input of any size. Input:
/// <code>
/// u8  flags: 1 INDIRECT_DESC, 2 EVENT_IDX, 4 no output stream
/// u8  rx queue size selector (1..64), u16 start index; the same for tx (rings packed from address 0, rx first)
/// u16 image length, then the image: low guest RAM from address 0
/// ops (none = "hello" typed on the host, transmit, receive):
///     0 transmit   1 receive   2 the host types (u16 length, u8 fill)   3 guest writes u16 at u16 offset
/// </code>
/// Guest RAM includes 1 GiB at 4 GiB (FuzzGuest), so a chain can claim almost 4 GiB, the case where a transmit loop
/// over a 32-bit offset never ends. Expected: VirtqueueException. A finding: any other exception, a hang, more output
/// than the transmitted chains held.
/// </summary>
internal sealed class ConsoleTarget : IFuzzTarget
{
    private const int MaxOps = 64;

    private readonly FuzzGuest _guest = new(huge: true);
    private readonly CountingStream _output = new();
    private readonly byte[] _typed = new byte[ushort.MaxValue];

    public string Name => "console";

    public string Description => "virtio-console transmit and receive handlers, host input up to and past its 64 KiB buffer";

    public bool IsExpected(Exception exception) => exception is VirtqueueException;

    public void Execute(ReadOnlySpan<byte> input)
    {
        var reader = new FuzzReader(input);
        var flags = reader.U8();
        var features = ((flags & 1) != 0 ? VirtqueueFeatures.IndirectDescriptors : 0) | ((flags & 2) != 0 ? VirtqueueFeatures.EventIndex : 0);
        var (rxConfig, rxEnd) = QueueLayout.Read(ref reader, 0, 64, features);
        var (txConfig, _) = QueueLayout.Read(ref reader, rxEnd, 64, features);
        _guest.Reset(reader.Bytes(reader.U16()));
        _output.SetLength(0);

        var memory = _guest.Memory;
        var rx = new VirtioQueue(0, new SplitVirtqueue(memory, rxConfig), _guest.Doorbell, memory, _guest.Events);
        var tx = new VirtioQueue(1, new SplitVirtqueue(memory, txConfig), _guest.Doorbell, memory, _guest.Events);
        var activation = new VirtioActivation(memory, features, [rx, tx], _guest.Events);

        // A new device per input: host input waits in it between executions otherwise.
        using var console = new VirtioConsole((flags & 4) != 0 ? null : _output);
        var transmit = new DeviceHandler(console, "Transmit");
        var receive = new DeviceHandler(console, "Receive");
        if (reader.IsEmpty)
        {
            console.QueueInput("hello\n"u8);
            Transmit(transmit, tx, activation);
            _ = receive.Invoke(rx, activation);
            return;
        }

        for (var ops = 0; ops < MaxOps && !reader.IsEmpty; ops++)
        {
            switch (reader.U8() % 4)
            {
                case 0:
                    Transmit(transmit, tx, activation);
                    break;
                case 1:
                    _ = receive.Invoke(rx, activation);
                    break;
                case 2:
                    var length = reader.U16();
                    _typed.AsSpan(0, length).Fill(reader.U8());
                    console.QueueInput(_typed.AsSpan(0, length));
                    break;
                default:
                    _guest.Write16(reader.U16(), reader.U16());
                    break;
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        // "hi\n" transmitted from two descriptors; a 16-byte receive buffer for "hello\n".
        var (rx, rxEnd) = QueueLayout.Pack(0, 2, 0);
        var (tx, txEnd) = QueueLayout.Pack(rxEnd, 2, 0);
        var image = new SeedImage();
        var data = txEnd;
        image.Write(data, "hi\n"u8);
        image.Descriptor(tx, 0, data, 2, DescriptorFlags.Next, 1);
        image.Descriptor(tx, 1, data + 2, 1);
        image.Publish(tx, 0);
        image.Descriptor(rx, 1, data + 64, 16, DescriptorFlags.Write);
        image.Publish(rx, 1);
        yield return ("hello", new SeedBuilder().U8(0).U8(1).U16(0).U8(1).U16(0).Image(image).ToArray());

        // 64 KiB of host input into small buffers across regions, indirect transmit of 128 KiB, EVENT_IDX.
        var features = VirtqueueFeatures.IndirectDescriptors | VirtqueueFeatures.EventIndex;
        (rx, rxEnd) = QueueLayout.Pack(0, 4, features);
        (tx, txEnd) = QueueLayout.Pack(rxEnd, 4, features);
        image = new SeedImage();
        data = txEnd;
        image.Descriptor(tx, 0, data, 48, DescriptorFlags.Indirect);
        image.Descriptor(data, 0, 0, 0x10000, DescriptorFlags.Next, 1);
        image.Descriptor(data, 1, FuzzGuest.NextBase, 0x10000, DescriptorFlags.Next, 2);
        image.Descriptor(data, 2, FuzzGuest.HighBase, 10);
        image.Publish(tx, 0);
        image.Descriptor(rx, 0, FuzzGuest.NextBase - 8, 16, DescriptorFlags.Write);
        image.Descriptor(rx, 1, data + 128, 3, DescriptorFlags.Write | DescriptorFlags.Next, 2);
        image.Descriptor(rx, 2, FuzzGuest.HighBase, 0x10000, DescriptorFlags.Write);
        image.Publish(rx, 0, 1);
        yield return ("big-input-indirect", new SeedBuilder().U8(3).U8(2).U16(0).U8(2).U16(0).Image(image)
            .U8(2).U16(0xFFFF).U8(0x41).U8(2).U16(300).U8(0x42).U8(1).U8(0).U8(3).U16((int)(rx.AvailableRing.Value + 2)).U16(3).U8(1).ToArray());

        // A transmit chain of almost 4 GiB (four overlapping 1 GiB buffers at 4 GiB), then a small one.
        (rx, rxEnd) = QueueLayout.Pack(0, 1, 0);
        (tx, txEnd) = QueueLayout.Pack(rxEnd, 8, 0);
        image = new SeedImage();
        for (var i = 0; i < 4; i++)
        {
            image.Descriptor(tx, i, FuzzGuest.HugeBase, 0x3FFF_FFFF, i < 3 ? DescriptorFlags.Next : DescriptorFlags.None, i + 1);
        }

        image.Descriptor(tx, 4, txEnd, 3);
        image.Write(txEnd, "ok\n"u8);
        image.Publish(tx, 0, 4);
        yield return ("near-4g-transmit", new SeedBuilder().U8(0).U8(0).U16(0).U8(3).U16(0).Image(image).U8(0).ToArray());
    }

    private void Transmit(DeviceHandler transmit, VirtioQueue tx, VirtioActivation activation)
    {
        var before = _output.Length;
        var start = tx.Ring.NextAvailableIndex;
        try
        {
            _ = transmit.Invoke(tx, activation);
        }
        catch (VirtqueueException)
        {
            CheckOutput(tx, start, before);
            throw;
        }

        CheckOutput(tx, start, before);
    }

    /// <summary>A chain holds less than 4 GiB: a transmit that writes more for it is going round in circles.</summary>
    private void CheckOutput(VirtioQueue tx, ushort start, long before)
    {
        var chains = (ushort)(tx.Ring.NextAvailableIndex - start) + 1L;
        var limit = chains * uint.MaxValue;
        if (_output.Length - before > limit)
        {
            throw new Finding($"transmit wrote {_output.Length - before} bytes for {chains - 1} chains");
        }
    }
}

/// <summary>Counts what is written and keeps none of it.</summary>
internal sealed class CountingStream : Stream
{
    private long _length;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => _length = value;

    public override void Write(byte[] buffer, int offset, int count) => _length += count;
}
