using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Vmm.Devices.Virtio.Console;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;
using Buffer = Sharpvisor.Vmm.Tests.Devices.Virtio.Queue.Buffer;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Console;

/// <summary>virtio-console's saved state: host input waiting for buffers and output the guest posted reach the restored console.</summary>
public sealed class VirtioConsoleStateTests : IDisposable
{
    private const int Rx = 0;
    private const int Tx = 1;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly MemoryStream _output = new();
    private readonly VirtioConsole _console;
    private readonly VirtioPciDriver _source;
    private readonly List<VirtioPciDriver> _restored = [];

    public VirtioConsoleStateTests()
    {
        _console = new VirtioConsole(_output);
        _source = new VirtioPciDriver(_console);
        _source.Start();
    }

    public void Dispose()
    {
        foreach (var driver in _restored)
        {
            driver.Dispose();
        }

        _source.Dispose();
    }

    private VirtioPciDriver Restore(StateSection section, Stream output)
    {
        var restored = _source.CopyGuestTo(new VirtioConsole(output));
        _restored.Add(restored);
        restored.Transport.RestoreState(section);
        return restored;
    }

    [Fact]
    public void TypedAheadInputAndPostedOutputReachTheRestoredConsole()
    {
        // Typed with no receive buffer posted: the console holds it.
        _console.QueueInput("ls -l\n"u8);
        Thread.Sleep(20);
        Assert.Equal(0, _source.Queues[Rx]!.UsedIndex);
        _source.Transport.Quiesce(Deadline);

        // Printed while quiesced: nothing comes out of this console.
        var text = "login: "u8.ToArray();
        _source.Queues[Tx]!.Add(new Buffer(_source.Allocate(text), (uint)text.Length));
        _source.Kick(Tx);
        Thread.Sleep(50);
        Assert.Equal(0, _output.Length);

        using var output = new MemoryStream();
        var restored = Restore(Save(_source.Transport), output);

        Assert.Single(restored.WaitForUsed(Tx, 1));
        Assert.Equal("login: ", Encoding.ASCII.GetString(output.ToArray()));
        restored.WaitForMsi(Tx, 1);
        var buffer = restored.Allocate(64, 0xEE);
        restored.Queues[Rx]!.Add(new Buffer(buffer, 64, Write: true));
        restored.Kick(Rx);
        Assert.Equal(6u, Assert.Single(restored.WaitForUsed(Rx, 1)).Length);
        Assert.Equal("ls -l\n"u8.ToArray(), restored.ReadGuest(buffer, 6));
        restored.WaitForMsi(Rx, 1);
        Assert.Equal(0, _output.Length);
    }

    [Fact]
    public void MoreInputThanTheConsoleBuffersIsRefused()
    {
        _source.Transport.Quiesce(Deadline);
        var section = Save(_source.Transport);

        // The console's own state is last: u32 its length, u32 the input's length, the input.
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(section.Payload.AsSpan(section.Payload.Length - 8)));
        var input = new byte[VirtioConsole.InputBufferLimit + 1];
        var payload = new byte[section.Payload.Length - 8 + 8 + input.Length];
        section.Payload.AsSpan(0, section.Payload.Length - 8).CopyTo(payload);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(section.Payload.Length - 8), (uint)(4 + input.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(section.Payload.Length - 4), (uint)input.Length);
        using var target = new VirtioPciDriver(new VirtioConsole(null));

        AssertRefused(target.Transport, section with { Payload = payload }, $"{input.Length} bytes of host input overfill the console's 65536-byte buffer");
    }

    [Fact]
    public void DamagedSectionsAreRefused()
    {
        _console.QueueInput("pending"u8);
        Thread.Sleep(20);
        _source.Transport.Quiesce(Deadline);
        using var target = new VirtioPciDriver(new VirtioConsole(null));

        AssertDamageRefused(target.Transport, Save(_source.Transport));
    }
}
