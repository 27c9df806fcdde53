using System.Text;
using Sharpvisor.Vmm.ConsoleSocket;

namespace Sharpvisor.Vmm.Tests.ConsoleSocket;

public sealed class ConsoleFanOutTests
{
    private static async Task<string> ReadAllQueuedAsync(ConsoleSubscriber subscriber, int expected)
    {
        var buffer = new byte[ConsoleFanOut.MaxChunkBytes];
        var text = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (text.Length < expected)
        {
            var read = await subscriber.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    [Fact]
    public async Task ANewSubscriberGetsTheReplayThenLiveOutputWithNothingLostOrDoubled()
    {
        var fanOut = new ConsoleFanOut();
        fanOut.Publish("before "u8);
        using var first = fanOut.Subscribe();
        fanOut.Publish("middle "u8);
        using var second = fanOut.Subscribe();
        fanOut.Publish("after"u8);

        Assert.Equal("before middle after", await ReadAllQueuedAsync(first, 19));
        Assert.Equal("before middle after", await ReadAllQueuedAsync(second, 19));
    }

    [Fact]
    public async Task TheReplayIsTheLast64KiB()
    {
        var fanOut = new ConsoleFanOut();
        var text = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i,6}\n"));
        fanOut.Publish(Encoding.ASCII.GetBytes(text));
        using var subscriber = fanOut.Subscribe();
        fanOut.Complete();
        Assert.Equal(text[^(64 * 1024)..], await ReadAllQueuedAsync(subscriber, int.MaxValue));
    }

    [Fact]
    public async Task AStuckSubscriberIsDroppedWithoutSlowingOthers()
    {
        var dropped = new List<ConsoleSubscriber>();
        var fanOut = new ConsoleFanOut(ringCapacity: 1024, maxQueuedBytes: 4096, onOverflow: dropped.Add);
        using var stuck = fanOut.Subscribe();
        using var reader = fanOut.Subscribe();
        var buffer = new byte[ConsoleFanOut.MaxChunkBytes];
        var received = 0;
        for (var i = 0; i < 100; i++)
        {
            fanOut.Publish(new byte[100]);
            received += await reader.ReadAsync(buffer);
        }

        Assert.Equal(10_000, received);
        Assert.Equal([stuck], dropped);
        Assert.True(stuck.Overflowed);
        Assert.Equal(1, fanOut.SubscriberCount);
        Assert.Equal(0, await stuck.ReadAsync(buffer));
    }

    [Fact]
    public async Task DisposingOrCompletingEndsReads()
    {
        var fanOut = new ConsoleFanOut();
        var subscriber = fanOut.Subscribe();
        subscriber.Dispose();
        Assert.Equal(0, fanOut.SubscriberCount);
        Assert.Equal(0, await subscriber.ReadAsync(new byte[ConsoleFanOut.MaxChunkBytes]));

        fanOut.Complete();
        using var late = fanOut.Subscribe();
        Assert.Equal(0, await late.ReadAsync(new byte[ConsoleFanOut.MaxChunkBytes]));
    }
}
