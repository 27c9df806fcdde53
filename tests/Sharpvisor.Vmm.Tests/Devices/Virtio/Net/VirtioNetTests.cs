using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sharpvisor.Kvm;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Net;

/// <summary>A host side for a NIC: frames injected by the test become readable on an eventfd, sent frames are kept.</summary>
internal sealed class FakeNetBackend : INetBackend
{
    private readonly EventFd _readable = new(nonBlocking: true);
    private readonly Queue<byte[]> _incoming = new();
    private readonly List<byte[]> _sent = [];
    private int _receiveCalls;

    public SafeHandle ReadableHandle => _readable.Handle;

    public bool AcceptSends { get; set; } = true;

    public bool Disposed { get; private set; }

    public int ReceiveCalls => Volatile.Read(ref _receiveCalls);

    public int Waiting
    {
        get
        {
            lock (_incoming)
            {
                return _incoming.Count;
            }
        }
    }

    public IReadOnlyList<byte[]> Sent
    {
        get
        {
            lock (_sent)
            {
                return [.. _sent];
            }
        }
    }

    public void Inject(byte[] frame)
    {
        lock (_incoming)
        {
            _incoming.Enqueue(frame);
            _readable.Signal();
        }
    }

    public int Receive(Span<byte> frame)
    {
        Interlocked.Increment(ref _receiveCalls);
        lock (_incoming)
        {
            if (!_incoming.TryDequeue(out var next))
            {
                return 0;
            }

            if (_incoming.Count == 0)
            {
                _readable.Wait(); // readable exactly while frames wait
            }

            var length = Math.Min(next.Length, frame.Length);
            next.AsSpan(0, length).CopyTo(frame);
            return length;
        }
    }

    public bool Send(ReadOnlySpan<byte> frame)
    {
        lock (_sent)
        {
            _sent.Add(frame.ToArray());
        }

        return AcceptSends;
    }

    public void Dispose()
    {
        Disposed = true;
        _readable.Dispose();
    }
}

/// <summary>virtio-net through the PCI transport on a fake backend.</summary>
public sealed class VirtioNetTests : IDisposable
{
    private const int Rx = 0;
    private const int Tx = 1;
    private const int HeaderSize = VirtioNet.HeaderSize;

    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    private readonly FakeNetBackend _backend = new();
    private readonly VirtioNet _net;
    private readonly VirtioPciDriver _driver;

    public VirtioNetTests()
    {
        _net = new VirtioNet(_backend, Mac);
        _driver = new VirtioPciDriver(_net);
    }

    public void Dispose() => _driver.Dispose();

    private static byte[] Frame(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed ^ (i * 31)))];

    private ulong PostReceiveBuffer(int length)
    {
        var buffer = _driver.Allocate(length, 0xEE);
        _driver.Queues[Rx]!.Add(new Buffer(buffer, (uint)length, Write: true));
        return buffer;
    }

    private static void AssertReceived(byte[] packet, byte[] frame)
    {
        Assert.Equal(HeaderSize + frame.Length, packet.Length);
        Assert.All(packet[..10], b => Assert.Equal(0, b)); // no checksum or GSO to describe
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(packet.AsSpan(10))); // num_buffers
        Assert.Equal(frame, packet[HeaderSize..]);
    }

    [Fact]
    public void AnAnnouncementIsABroadcastRarpFromTheGuestsMac()
    {
        Assert.True(_net.Announce());

        var frame = Assert.Single(_backend.Sent);
        Assert.Equal(60, frame.Length);
        Assert.Equal(Enumerable.Repeat((byte)0xff, 6), frame[..6]);
        Assert.Equal(Mac, frame[6..12]);
        Assert.Equal(new byte[] { 0x80, 0x35, 0, 1, 0x08, 0x00, 6, 4, 0, 3 }, frame[12..22]);
        Assert.Equal(Mac, frame[22..28]); // sender, then its IPv4 address: none
        Assert.Equal(new byte[4], frame[28..32]);
        Assert.Equal(Mac, frame[32..38]); // target, then its IPv4 address: none, then padding
        Assert.Equal(new byte[22], frame[38..]);
    }

    [Fact]
    public void ConfigHoldsTheMacAndLinkUp()
    {
        for (var i = 0; i < Mac.Length; i++)
        {
            Assert.Equal(Mac[i], (byte)_driver.DeviceConfig(i, 1));
        }

        Assert.Equal(1UL, _driver.DeviceConfig(6, 2)); // VIRTIO_NET_S_LINK_UP
        Assert.Equal(1UL, _driver.DeviceConfig(8, 2)); // max_virtqueue_pairs
        Assert.Equal(0UL, _driver.DeviceConfig(10, 2)); // past the config
        Assert.Equal((1UL << VirtioNet.MacBit) | (1UL << VirtioNet.StatusBit) | VirtioFeatures.Common, _driver.OfferedFeatures);
        Assert.Throws<ArgumentException>(() => new VirtioNet(new FakeNetBackend(), [1, 2, 3]));
    }

    [Fact]
    public void TransmitStripsTheHeaderAndSendsTheFrame()
    {
        _driver.Start();
        var tx = _driver.Queues[Tx]!;
        var first = Frame(60, 1);
        var second = Frame(1514, 2);

        // Header and frame in separate descriptors, then both in one.
        tx.Add(new Buffer(_driver.Allocate(HeaderSize), HeaderSize), new Buffer(_driver.Allocate(first), (uint)first.Length));
        tx.Add(new Buffer(_driver.Allocate([.. new byte[HeaderSize], .. second]), (uint)(HeaderSize + second.Length)));
        _driver.Kick(Tx);
        var used = _driver.WaitForUsed(Tx, 2);
        Assert.All(used, u => Assert.Equal(0u, u.Length));
        Assert.Equal([first, second], _backend.Sent);
        Assert.Equal(2, _net.TransmittedFrames);
        _driver.WaitForMsi(Tx, 1);
        Assert.Equal(0, _driver.MsiCount(Rx));
    }

    [Fact]
    public void TransmitDropsEmptyFramesAndFramesTheHostRefuses()
    {
        _driver.Start();
        var tx = _driver.Queues[Tx]!;
        tx.Add(new Buffer(_driver.Allocate(HeaderSize), HeaderSize)); // a header and no frame
        tx.Add(new Buffer(_driver.Allocate(8), 8));                   // not even a header
        _driver.Kick(Tx);
        Assert.Equal(2, _driver.WaitForUsed(Tx, 2).Count);
        Assert.Empty(_backend.Sent);
        Assert.Equal(2, _net.TransmitDropped);

        _backend.AcceptSends = false;
        tx.Add(new Buffer(_driver.Allocate(HeaderSize + 60), HeaderSize + 60));
        _driver.Kick(Tx);
        Assert.Single(_driver.WaitForUsed(Tx, 3));
        Assert.Equal(3, _net.TransmitDropped);
        Assert.Equal(0, _net.TransmittedFrames);
    }

    [Fact]
    public void ReceiveDeliversFramesWithAHeaderIntoPostedBuffers()
    {
        _driver.Start();
        var whole = PostReceiveBuffer(HeaderSize + 1514);
        var header = _driver.Allocate(HeaderSize, 0xEE);
        var body = _driver.Allocate(1514, 0xEE);
        _driver.Queues[Rx]!.Add(new Buffer(header, HeaderSize, Write: true), new Buffer(body, 1514, Write: true));
        _driver.Kick(Rx);

        var first = Frame(98, 3);
        var second = Frame(1514, 4);
        _backend.Inject(first);
        _backend.Inject(second);
        var used = _driver.WaitForUsed(Rx, 2);
        Assert.Equal([(uint)(HeaderSize + first.Length), (uint)(HeaderSize + second.Length)], used.Select(u => u.Length));
        AssertReceived(_driver.ReadGuest(whole, HeaderSize + first.Length), first);
        Assert.Equal(0xEE, _driver.ReadGuest(whole + HeaderSize + (ulong)first.Length, 1)[0]);
        AssertReceived([.. _driver.ReadGuest(header, HeaderSize), .. _driver.ReadGuest(body, 1514)], second);
        Assert.Equal(2, _net.ReceivedFrames);
        _driver.WaitForMsi(Rx, 1);
    }

    [Fact]
    public void WithoutReceiveBuffersFramesWaitOnTheHost()
    {
        _driver.Start();
        var frames = new[] { Frame(60, 5), Frame(70, 6), Frame(80, 7) };
        foreach (var frame in frames)
        {
            _backend.Inject(frame);
        }

        // The device takes the first frame, finds no buffer and stops reading the backend.
        VirtioPciDriver.WaitUntil(() => _backend.Waiting == 2, "the device to take one frame");
        var calls = _backend.ReceiveCalls;
        Thread.Sleep(20);
        Assert.Equal(calls, _backend.ReceiveCalls); // paused, not spinning on a readable backend
        Assert.Equal(2, _backend.Waiting);

        for (var i = 0; i < frames.Length; i++)
        {
            var buffer = PostReceiveBuffer(2048);
            _driver.Kick(Rx);
            Assert.Single(_driver.WaitForUsed(Rx, (ushort)(i + 1)));
            AssertReceived(_driver.ReadGuest(buffer, HeaderSize + frames[i].Length), frames[i]);
        }

        Assert.Equal(0, _backend.Waiting);
        Assert.Equal(3, _net.ReceivedFrames);

        // Back to normal: a frame arriving now goes straight into a waiting buffer.
        var last = PostReceiveBuffer(2048);
        _driver.Kick(Rx);
        var late = Frame(64, 8);
        _backend.Inject(late);
        Assert.Single(_driver.WaitForUsed(Rx, 4));
        AssertReceived(_driver.ReadGuest(last, HeaderSize + late.Length), late);
    }

    [Fact]
    public void TransmittingWhileAReceivedFrameWaitsLeavesThatFrameIntact()
    {
        _driver.Start();
        var waiting = Frame(1000, 12);
        _backend.Inject(waiting);
        VirtioPciDriver.WaitUntil(() => _backend.Waiting == 0, "the device to take the frame");

        var sent = Frame(1500, 13);
        _driver.Queues[Tx]!.Add(new Buffer(_driver.Allocate([.. new byte[HeaderSize], .. sent]), (uint)(HeaderSize + sent.Length)));
        _driver.Kick(Tx);
        Assert.Single(_driver.WaitForUsed(Tx, 1));
        Assert.Equal(sent, Assert.Single(_backend.Sent));

        var buffer = PostReceiveBuffer(2048);
        _driver.Kick(Rx);
        Assert.Single(_driver.WaitForUsed(Rx, 1));
        AssertReceived(_driver.ReadGuest(buffer, HeaderSize + waiting.Length), waiting);
    }

    [Fact]
    public void AFrameBiggerThanTheBufferIsDroppedWithLengthZero()
    {
        _driver.Start();
        var small = PostReceiveBuffer(HeaderSize + 100);
        var big = PostReceiveBuffer(HeaderSize + 1514);
        _driver.Kick(Rx);
        var tooBig = Frame(101, 9);
        var fits = Frame(100, 10);
        _backend.Inject(tooBig);
        _backend.Inject(fits);

        var used = _driver.WaitForUsed(Rx, 2);
        Assert.Equal([0u, (uint)(HeaderSize + fits.Length)], used.Select(u => u.Length));
        Assert.All(_driver.ReadGuest(small, HeaderSize + 100), b => Assert.Equal(0xEE, b));
        AssertReceived(_driver.ReadGuest(big, HeaderSize + fits.Length), fits);
        Assert.Equal(1, _net.ReceivedFrames);
    }

    [Fact]
    public void DisposingTheTransportStopsTheDeviceAndClosesTheBackend()
    {
        _driver.Start();
        _driver.Status = VirtioStatus.None; // a reset leaves the backend open for the next start
        Assert.False(_backend.Disposed);
        _driver.Start();
        var buffer = PostReceiveBuffer(2048);
        _driver.Kick(Rx);
        _backend.Inject(Frame(60, 11));
        Assert.Single(_driver.WaitForUsed(Rx, 1));
        AssertReceived(_driver.ReadGuest(buffer, HeaderSize + 60), Frame(60, 11));

        _driver.Transport.Dispose();
        Assert.True(_backend.Disposed);
    }
}
