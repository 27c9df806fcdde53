using System.Collections.Concurrent;
using System.Diagnostics;
using Sharpvisor.Vmm.Bus;
using Sharpvisor.Vmm.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Legacy;

/// <summary>
/// Runs alone: the host's timer callbacks need a free thread-pool thread, and tests running beside it block
/// enough of the pool's few threads (two cores) to delay them by hundreds of milliseconds.
/// </summary>
[CollectionDefinition(nameof(Pit8254RealClockTests), DisableParallelization = true)]
[Collection(nameof(Pit8254RealClockTests))]
public class Pit8254RealClockTests
{
    [Fact]
    public async Task TheSystemClockDeliversPulsesNeverFasterThanProgrammed()
    {
        var irq0 = new TimedPulses();
        var bus = new IoBus("pio");
        using var pit = new Pit8254(irq0, TimeProvider.System);
        bus.Register(0x40, Pit8254.RangeLength, pit);

        bus.Out8(0x43, 0x34); // counter 0, low then high byte, mode 2
        bus.Out8(0x40, 11932 & 0xff);
        bus.Out8(0x40, 11932 >> 8);

        // Awaited, not slept, to leave this thread to the pool. Only bounds that hold on a loaded machine are
        // checked (rates are for benchmarks, not tests): pulses keep coming, and never faster than 100 Hz,
        // since the PIT drops ticks it could not deliver in time instead of bursting them.
        while (irq0.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(50);
        }

        pit.Dispose();
        Assert.InRange(irq0.RisingEdgesWithin(TimeSpan.FromMilliseconds(500)), 1, 51);
        Assert.InRange(irq0.RisingEdgesWithin(TimeSpan.FromSeconds(2)), 20, 201);
    }

    /// <summary>Remembers when each pulse began, on the host's monotonic clock.</summary>
    private sealed class TimedPulses : IInterruptLine
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly ConcurrentQueue<TimeSpan> _risingEdges = new();

        public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

        public int RisingEdgesWithin(TimeSpan window) => _risingEdges.Count(at => at <= window);

        public void SetLevel(bool asserted)
        {
            if (asserted)
            {
                _risingEdges.Enqueue(Elapsed);
            }
        }
    }
}
