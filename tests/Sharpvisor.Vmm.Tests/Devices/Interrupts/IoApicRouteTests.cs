using System.Buffers.Binary;
using Sharpvisor.Vmm.Devices.Interrupts;

namespace Sharpvisor.Vmm.Tests.Devices.Interrupts;

/// <summary>The level-triggered routes the I/O APIC hands KVM always end as its entries are, whatever two vCPUs race.</summary>
public sealed class IoApicRouteTests
{
    private const ulong Select = 0x00;
    private const ulong Window = 0x10;

    /// <summary>Holds the first commit until a second one has happened, or a while: the order a slow ioctl makes.</summary>
    private sealed class SlowFirstCommitSink : IMsiSink
    {
        private readonly Lock _lock = new();
        private int _calls;

        public ManualResetEventSlim FirstEntered { get; } = new();

        public ManualResetEventSlim SecondCommitted { get; } = new();

        public List<IReadOnlyList<(uint Pin, ulong Address, uint Data)>> Commits { get; } = [];

        public void SignalMsi(ulong address, uint data)
        {
        }

        public void SetLevelTriggeredRoutes(IReadOnlyList<(uint Pin, ulong Address, uint Data)> routes)
        {
            var call = Interlocked.Increment(ref _calls);
            if (call == 1)
            {
                FirstEntered.Set();
                _ = SecondCommitted.Wait(TimeSpan.FromSeconds(2)); // with the fix the second waits for us: give up then
            }

            lock (_lock)
            {
                Commits.Add([.. routes]);
            }

            if (call == 2)
            {
                SecondCommitted.Set();
            }
        }
    }

    private static void WriteRegister(IoApic ioApic, uint register, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, register);
        ioApic.Write(Select, bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        ioApic.Write(Window, bytes);
    }

    /// <summary>Low dword of a redirection entry: the vector, level-triggered (bit 15), unmasked (bit 16 clear).</summary>
    private static void RouteLevelPin(IoApic ioApic, int pin, byte vector) =>
        WriteRegister(ioApic, 0x10 + (2 * (uint)pin), vector | (1u << 15));

    [Fact]
    public void RacingEntryWritesLeaveKvmWithEveryLevelPin()
    {
        var sink = new SlowFirstCommitSink();
        var ioApic = new IoApic(sink);
        var first = new Thread(() => RouteLevelPin(ioApic, 1, 0x31));
        first.Start();
        Assert.True(sink.FirstEntered.Wait(TimeSpan.FromSeconds(30)), "the first route commit never happened");

        var second = new Thread(() => RouteLevelPin(ioApic, 2, 0x32));
        second.Start();
        Assert.True(first.Join(TimeSpan.FromSeconds(30)) && second.Join(TimeSpan.FromSeconds(30)), "a register write did not return");

        Assert.Equal(2, sink.Commits.Count);
        var last = sink.Commits[^1];
        Assert.Equal([1u, 2u], last.Select(r => r.Pin).Order());
    }
}
