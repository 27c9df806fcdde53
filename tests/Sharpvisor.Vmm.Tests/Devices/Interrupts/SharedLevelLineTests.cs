using Sharpvisor.Vmm.Devices.Interrupts;
using Sharpvisor.Vmm.Tests.Devices.Legacy;

namespace Sharpvisor.Vmm.Tests.Devices.Interrupts;

public sealed class SharedLevelLineTests
{
    private readonly RecordingInterruptLine _pin = new();

    [Fact]
    public void TheLineIsHighWhileAnySourceAssertsIt()
    {
        var shared = new SharedLevelLine(_pin);
        var a = shared.AddSource();
        var b = shared.AddSource();

        a.SetLevel(true);
        b.SetLevel(true);
        a.SetLevel(false);
        Assert.True(_pin.IsAsserted);
        b.SetLevel(false);

        Assert.Equal([true, false], _pin.Changes); // one edge up, one down: the pin never saw the hand-over
    }

    [Fact]
    public void ASourceRepeatingItsLevelCannotCancelAnother()
    {
        var shared = new SharedLevelLine(_pin);
        var a = shared.AddSource();
        var b = shared.AddSource();

        a.SetLevel(true);
        b.SetLevel(false);
        b.SetLevel(false);
        a.SetLevel(true);
        Assert.True(_pin.IsAsserted);
        a.SetLevel(false);
        a.SetLevel(false);

        Assert.Equal([true, false], _pin.Changes);
    }

    [Fact]
    public void SourcesRacingOnThreadsLeaveTheLineLowWhenAllAreLow()
    {
        var shared = new SharedLevelLine(_pin);
        var threads = Enumerable.Range(0, 4).Select(_ => shared.AddSource()).Select(source => new Thread(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                source.SetLevel(i % 2 == 0);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromMinutes(1)), "a source thread did not finish"));

        Assert.False(_pin.IsAsserted);
        var changes = _pin.Changes;
        Assert.All(changes.Zip(changes.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second)); // strictly alternating edges
    }
}
