using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Rng;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Rng;

/// <summary>virtio-rng through the PCI transport.</summary>
public sealed class VirtioRngTests : IDisposable
{
    private const int Queue = 0;
    private const byte Sentinel = 0xAA;

    private readonly VirtioPciDriver _driver = new(new VirtioRng());

    public void Dispose() => _driver.Dispose();

    private static void AssertLooksRandom(byte[] bytes) =>
        Assert.True(bytes.Distinct().Count() > Math.Min(bytes.Length / 4, 64), "the bytes do not look random");

    [Fact]
    public void OffersNoDeviceFeaturesAndNoConfig()
    {
        Assert.Equal(VirtioFeatures.Common, _driver.OfferedFeatures);
        Assert.DoesNotContain(_driver.Caps, c => c.Type == 4);
    }

    [Fact]
    public void FillsEveryWritableBuffer()
    {
        _driver.Start();
        var queue = _driver.Queues[Queue]!;
        var buffers = Enumerable.Range(0, 4).Select(_ => _driver.Allocate(256, Sentinel)).ToArray();
        foreach (var buffer in buffers)
        {
            queue.Add(new Buffer(buffer, 256, Write: true));
        }

        // One request spread over two descriptors.
        var head = _driver.Allocate(100, Sentinel);
        var tail = _driver.Allocate(28, Sentinel);
        queue.Add(new Buffer(head, 100, Write: true), new Buffer(tail, 28, Write: true));
        _driver.Kick(Queue);

        var used = _driver.WaitForUsed(Queue, 5);
        Assert.Equal([256u, 256u, 256u, 256u, 128u], used.Select(u => u.Length));
        var contents = buffers.Select(b => _driver.ReadGuest(b, 256)).ToList();
        contents.ForEach(AssertLooksRandom);
        Assert.Equal(4, contents.Select(Convert.ToHexString).Distinct().Count());
        AssertLooksRandom([.. _driver.ReadGuest(head, 100), .. _driver.ReadGuest(tail, 28)]);
        _driver.WaitForMsi(Queue, 1);
    }

    [Fact]
    public void ARequestGetsAtMost64KiB()
    {
        _driver.Start();
        var queue = _driver.Queues[Queue]!;
        var big = _driver.Allocate(128 * 1024, Sentinel);
        queue.Add(new Buffer(big, 128 * 1024, Write: true));

        // Three descriptors of 40000 bytes: the first whole, the second in part, the third untouched.
        var parts = Enumerable.Range(0, 3).Select(_ => _driver.Allocate(40000, Sentinel)).ToArray();
        queue.Add([.. parts.Select(p => new Buffer(p, 40000, Write: true))]);
        _driver.Kick(Queue);

        var used = _driver.WaitForUsed(Queue, 2);
        Assert.Equal([(uint)VirtioRng.MaxBytesPerRequest, (uint)VirtioRng.MaxBytesPerRequest], used.Select(u => u.Length));
        var bytes = _driver.ReadGuest(big, 128 * 1024);
        AssertLooksRandom(bytes[..VirtioRng.MaxBytesPerRequest]);
        Assert.True(bytes[VirtioRng.MaxBytesPerRequest..].All(b => b == Sentinel), "bytes past 64 KiB were written");

        var second = _driver.ReadGuest(parts[1], 40000);
        AssertLooksRandom(second[..(VirtioRng.MaxBytesPerRequest - 40000)]);
        Assert.True(second[(VirtioRng.MaxBytesPerRequest - 40000)..].All(b => b == Sentinel), "bytes past 64 KiB were written");
        Assert.True(_driver.ReadGuest(parts[2], 40000).All(b => b == Sentinel), "the third descriptor was written");
    }

    [Fact]
    public void AReadOnlyBufferComesBackEmpty()
    {
        _driver.Start();
        var buffer = _driver.Allocate(64, Sentinel);
        _driver.Queues[Queue]!.Add(new Buffer(buffer, 64));
        _driver.Kick(Queue);
        Assert.Equal(0u, Assert.Single(_driver.WaitForUsed(Queue, 1)).Length);
        Assert.All(_driver.ReadGuest(buffer, 64), b => Assert.Equal(Sentinel, b));
    }
}
