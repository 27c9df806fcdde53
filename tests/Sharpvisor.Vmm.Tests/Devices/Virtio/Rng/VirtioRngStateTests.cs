using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Rng;

/// <summary>virtio-rng's saved state: buffers posted while quiesced are filled when it ends, or by the restored function.</summary>
public sealed class VirtioRngStateTests : IDisposable
{
    private const int Queue = 0;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly VirtioPciDriver _source = new(new VirtioRng());
    private VirtioPciDriver? _restored;

    public VirtioRngStateTests()
    {
        _source.Start(); // EVENT_IDX on: the driver says which used index it wants an interrupt after
        for (ushort used = 1; used <= 2; used++)
        {
            _source.Queues[Queue]!.SetUsedEvent((ushort)(used - 1));
            Post(_source, 1);
            _source.Kick(Queue);
            Assert.Single(_source.WaitForUsed(Queue, used));
        }

        _source.WaitForMsi(Queue, 2);
    }

    public void Dispose()
    {
        _restored?.Dispose();
        _source.Dispose();
    }

    private static List<ulong> Post(VirtioPciDriver driver, int count) =>
        [.. Enumerable.Range(0, count).Select(_ =>
        {
            var buffer = driver.Allocate(64);
            driver.Queues[Queue]!.Add(new Buffer(buffer, 64, Write: true));
            return buffer;
        })];

    [Fact]
    public void BuffersNotifiedWhileQuiescedAreFilledWhenItEnds()
    {
        _source.Transport.Quiesce(Deadline);
        Post(_source, 2);
        _source.Kick(Queue);
        Thread.Sleep(100);
        Assert.Equal(2, _source.Queues[Queue]!.UsedIndex);

        _source.Transport.Unquiesce();

        Assert.Equal(2, _source.WaitForUsed(Queue, 4).Count);
    }

    [Fact]
    public void BuffersLeftInTheAvailRingAreFilledByTheRestoredFunctionWithOneInterruptWhereTheDriverAskedForIt()
    {
        _source.Transport.Quiesce(Deadline);

        // Published but never notified: the guest was paused between the two.
        var buffers = Post(_source, 3);
        _source.Queues[Queue]!.Kick();
        _source.Queues[Queue]!.SetUsedEvent(4); // an interrupt once the used index passes 4, i.e. for the third
        var section = Save(_source.Transport);
        _restored = _source.CopyGuestTo(new VirtioRng());
        _restored.Transport.RestoreState(section);

        var used = _restored.WaitForUsed(Queue, 5);
        Assert.Equal([64u, 64u, 64u], used.Select(u => u.Length));
        Assert.All(buffers, b => Assert.Contains(_restored.ReadGuest(b, 64), x => x != 0));
        _restored.WaitForMsi(Queue, 1);
        Thread.Sleep(50);
        Assert.Equal(1, _restored.MsiCount(Queue));
        Assert.Equal(5, _restored.Queues[Queue]!.AvailableEvent); // notifications back on, from where it stands
        Assert.Equal(2, _source.Queues[Queue]!.UsedIndex);
    }
}
