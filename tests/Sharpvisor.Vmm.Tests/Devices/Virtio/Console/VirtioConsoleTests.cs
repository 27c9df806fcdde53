using System.Text;
using Sharpvisor.Vmm.Devices.Virtio;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Console;

/// <summary>virtio-console (one port, hvc0) through the PCI transport.</summary>
public sealed class VirtioConsoleTests : IDisposable
{
    private const int Rx = 0;
    private const int Tx = 1;

    private readonly MemoryStream _output = new();
    private readonly VirtioConsole _console;
    private readonly VirtioPciDriver _driver;

    public VirtioConsoleTests()
    {
        _console = new VirtioConsole(_output);
        _driver = new VirtioPciDriver(_console);
    }

    public void Dispose() => _driver.Dispose();

    private ulong PostReceiveBuffer(int length)
    {
        var buffer = _driver.Allocate(length, 0xEE);
        _driver.Queues[Rx]!.Add(new Buffer(buffer, (uint)length, Write: true));
        return buffer;
    }

    [Fact]
    public void OffersNoDeviceFeaturesAndAZeroConfig()
    {
        Assert.Equal(VirtioFeatures.Common, _driver.OfferedFeatures);
        Assert.Equal(12u, _driver.Cap(4).Length);
        Assert.Equal(0UL, _driver.DeviceConfig(0, 8));
        Assert.Equal(0UL, _driver.DeviceConfig(8, 4));
    }

    [Fact]
    public void TransmittedBytesReachTheOutput()
    {
        _driver.Start();
        var tx = _driver.Queues[Tx]!;
        tx.Add(new Buffer(_driver.Allocate("Linux version "u8), 14));
        tx.Add(new Buffer(_driver.Allocate("6.1"u8), 3), new Buffer(_driver.Allocate("\r\n"u8), 2));
        _driver.Kick(Tx);
        Assert.All(_driver.WaitForUsed(Tx, 2), u => Assert.Equal(0u, u.Length));
        Assert.Equal("Linux version 6.1\r\n", Encoding.ASCII.GetString(_output.ToArray()));
        _driver.WaitForMsi(Tx, 1);

        // A buffer larger than the device's 64 KiB chunk arrives whole.
        var big = Enumerable.Range(0, 100_000).Select(i => (byte)('a' + (i % 26))).ToArray();
        tx.Add(new Buffer(_driver.Allocate(big), (uint)big.Length));
        _driver.Kick(Tx);
        Assert.Single(_driver.WaitForUsed(Tx, 3));
        Assert.Equal(big, _output.ToArray()[19..]);
    }

    [Fact]
    public void QueuedInputReachesPostedBuffers()
    {
        _driver.Start();
        var first = PostReceiveBuffer(16);
        _driver.Kick(Rx);
        _console.QueueInput("hello"u8);
        Assert.Equal(5u, Assert.Single(_driver.WaitForUsed(Rx, 1)).Length);
        Assert.Equal("hello"u8.ToArray(), _driver.ReadGuest(first, 5));
        Assert.Equal(0xEE, _driver.ReadGuest(first + 5, 1)[0]);
        _driver.WaitForMsi(Rx, 1);
    }

    [Fact]
    public void InputWaitsForBuffersAndIsSplitAcrossThem()
    {
        _driver.Start();
        var text = Encoding.ASCII.GetBytes("the quick brown fox jumps over the lazy dog");
        _console.QueueInput(text);
        Thread.Sleep(10); // the device sees the input with nowhere to put it
        Assert.Equal(0, _driver.Queues[Rx]!.UsedIndex);

        var a = PostReceiveBuffer(16);
        var b = PostReceiveBuffer(64);
        _driver.Kick(Rx);
        var used = _driver.WaitForUsed(Rx, 2);
        Assert.Equal([16u, (uint)text.Length - 16], used.Select(u => u.Length));
        byte[] received = [.. _driver.ReadGuest(a, 16), .. _driver.ReadGuest(b, text.Length - 16)];
        Assert.Equal(text, received);
    }

    [Fact]
    public void InputBeyondTheBufferLimitIsDropped()
    {
        _driver.Start();
        var input = Enumerable.Range(0, VirtioConsole.InputBufferLimit + 1000).Select(i => (byte)i).ToArray();
        _console.QueueInput(input);
        var buffer = PostReceiveBuffer(128 * 1024);
        _driver.Kick(Rx);
        Assert.Equal((uint)VirtioConsole.InputBufferLimit, Assert.Single(_driver.WaitForUsed(Rx, 1)).Length);
        Assert.Equal(input[..VirtioConsole.InputBufferLimit], _driver.ReadGuest(buffer, VirtioConsole.InputBufferLimit));
    }

    [Fact]
    public void WithoutAnOutputTransmittedBytesAreDiscarded()
    {
        using var driver = new VirtioPciDriver(new VirtioConsole(null));
        driver.Start();
        driver.Queues[Tx]!.Add(new Buffer(driver.Allocate("dropped"u8), 7));
        driver.Kick(Tx);
        Assert.Single(driver.WaitForUsed(Tx, 1));
        Assert.False(driver.Status.HasFlag(VirtioStatus.NeedsReset));
    }
}
