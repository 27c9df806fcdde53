using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Virtio.Net;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Net;

/// <summary>
/// virtio-net's saved state: a frame the NIC read and holds for want of a buffer, frames the guest posted for
/// transmission and the MAC the guest knows all reach the restored NIC; the host side waits while it is quiesced.
/// </summary>
public sealed class VirtioNetStateTests : IDisposable
{
    private const int Rx = 0;
    private const int Tx = 1;
    private const int HeaderSize = VirtioNet.HeaderSize;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private static readonly byte[] OtherMac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x09];

    private readonly FakeNetBackend _backend = new();
    private readonly VirtioPciDriver _source;
    private readonly List<VirtioPciDriver> _restored = [];

    public VirtioNetStateTests()
    {
        _source = new VirtioPciDriver(new VirtioNet(_backend, Mac));
        _source.Start(); // EVENT_IDX on, used_event 0: an interrupt for each queue's first used buffer
    }

    public void Dispose()
    {
        foreach (var driver in _restored)
        {
            driver.Dispose();
        }

        _source.Dispose();
    }

    private static byte[] Frame(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed ^ (i * 31)))];

    private static ulong PostReceiveBuffer(VirtioPciDriver driver)
    {
        var buffer = driver.Allocate(HeaderSize + 1514, 0xEE);
        driver.Queues[Rx]!.Add(new Buffer(buffer, HeaderSize + 1514, Write: true));
        return buffer;
    }

    private VirtioPciDriver Restore(StateSection section, FakeNetBackend backend, byte[]? mac = null)
    {
        var restored = _source.CopyGuestTo(new VirtioNet(backend, mac ?? Mac));
        _restored.Add(restored);
        restored.Transport.RestoreState(section);
        return restored;
    }

    /// <summary>A frame arrives with no receive buffer posted: the NIC reads it and holds it.</summary>
    private byte[] HoldAFrame()
    {
        var frame = Frame(98, 3);
        _backend.Inject(frame);
        VirtioPciDriver.WaitUntil(() => _backend.Waiting == 0, "the NIC to take the frame");
        return frame;
    }

    [Fact]
    public void AHeldFrameAndPostedTransmitsReachTheRestoredNic()
    {
        var held = HoldAFrame();
        _source.Transport.Quiesce(Deadline);
        var sent = Frame(60, 7);
        _source.Queues[Tx]!.Add(new Buffer(_source.Allocate([.. new byte[HeaderSize], .. sent]), (uint)(HeaderSize + sent.Length)));
        _source.Kick(Tx);
        var section = Save(_source.Transport);

        var backend = new FakeNetBackend();
        var restored = Restore(section, backend);

        Assert.Single(restored.WaitForUsed(Tx, 1));
        Assert.Equal([sent], backend.Sent);
        restored.WaitForMsi(Tx, 1);
        var buffer = PostReceiveBuffer(restored);
        restored.Kick(Rx);
        Assert.Equal((uint)(HeaderSize + held.Length), Assert.Single(restored.WaitForUsed(Rx, 1)).Length);
        Assert.Equal(held, restored.ReadGuest(buffer + HeaderSize, held.Length));
        restored.WaitForMsi(Rx, 1);

        // New frames come from the destination's host side.
        var next = Frame(200, 9);
        restored.Queues[Rx]!.SetUsedEvent(1);
        buffer = PostReceiveBuffer(restored);
        restored.Kick(Rx);
        backend.Inject(next);
        Assert.Single(restored.WaitForUsed(Rx, 2));
        Assert.Equal(next, restored.ReadGuest(buffer + HeaderSize, next.Length));
        restored.WaitForMsi(Rx, 2);
        Assert.Empty(_backend.Sent);
    }

    [Fact]
    public void WhileQuiescedTheNicLeavesHostFramesWaitingAndTakesThemWhenItEnds()
    {
        var buffer = PostReceiveBuffer(_source);
        _source.Kick(Rx);
        _source.Transport.Quiesce(Deadline);
        var frame = Frame(64, 5);
        _backend.Inject(frame);
        Thread.Sleep(100);
        Assert.Equal(1, _backend.Waiting);
        Assert.Equal(0, _source.Queues[Rx]!.UsedIndex);

        _source.Transport.Unquiesce();

        Assert.Single(_source.WaitForUsed(Rx, 1));
        Assert.Equal(frame, _source.ReadGuest(buffer + HeaderSize, frame.Length));
    }

    [Fact]
    public void TheRestoredNicKeepsTheMacTheGuestKnows()
    {
        _source.Transport.Quiesce(Deadline);
        var restored = Restore(Save(_source.Transport), new FakeNetBackend(), OtherMac);

        Assert.Equal(Mac, Enumerable.Range(0, 6).Select(i => (byte)restored.DeviceConfig(i, 1)));
        Assert.Equal(1UL, restored.DeviceConfig(6, 2)); // link up
    }

    /// <summary>The NIC's own state is last: u32 its length, MAC, u16 status, u16 pairs, u32 the held frame's length, the frame.</summary>
    private StateSection WithOwnState(ReadOnlySpan<byte> mac, ushort status, ushort pairs, int frameLength)
    {
        _source.Transport.Quiesce(Deadline);
        var section = Save(_source.Transport);
        var prefix = section.Payload.Length - 4 - 14;
        Assert.Equal(14u, BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(prefix)));
        var payload = new byte[prefix + 4 + 14 + frameLength];
        section.Payload.AsSpan(0, prefix).CopyTo(payload);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(prefix), (uint)(14 + frameLength));
        mac.CopyTo(payload.AsSpan(prefix + 4));
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(prefix + 10), status);
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(prefix + 12), pairs);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(prefix + 14), (uint)frameLength);
        return section with { Payload = payload };
    }

    [Fact]
    public void HostileNicStateIsRefused()
    {
        using var target = new VirtioPciDriver(new VirtioNet(new FakeNetBackend(), OtherMac));

        AssertRefused(target.Transport, WithOwnState([0x01, 0, 0x5E, 0, 0, 1], 1, 1, 0), "MAC 01005E000001 is a multicast address, no NIC's");
        AssertRefused(target.Transport, WithOwnState(Mac, 3, 1, 0), "link status 0x0003 sets bits this NIC does not offer");
        AssertRefused(target.Transport, WithOwnState(Mac, 1, 2, 0), "2 queue pairs, this NIC has 1");
        AssertRefused(target.Transport, WithOwnState(Mac, 1, 1, VirtioNet.MaxFrame + 1), "a pending frame of 65537 bytes is over the 65536-byte limit");
        var valid = WithOwnState(Mac, 0, 1, 60);
        target.Transport.RestoreState(valid); // link down and a held frame are a NIC's state like any other
        Assert.Equal(0UL, target.DeviceConfig(6, 2));
    }

    [Fact]
    public void DamagedSectionsAreRefused()
    {
        HoldAFrame();
        _source.Transport.Quiesce(Deadline);
        using var target = new VirtioPciDriver(new VirtioNet(new FakeNetBackend(), OtherMac));

        AssertDamageRefused(target.Transport, Save(_source.Transport));
    }
}
