using System.Diagnostics;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Queue;

/// <summary>
/// Garbage descriptor tables and rings: the device either walks a chain whose segments all lie in RAM, or throws
/// <see cref="VirtqueueException"/>. Anything else (GuestMemoryException included: that would be an attempted access
/// outside RAM) fails the test, and a pop never writes guest memory.
/// </summary>
public sealed class RandomizedVirtqueueTests
{
    private const ulong LowSize = 0x20000;
    private const ulong HighStart = 4UL << 30;
    private const ulong HighSize = 0x10000;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void GarbageNeverEscapesAsAnythingButVirtqueueException(int seed)
    {
        var random = new Random(seed);
        using var memory = GuestMemory.Create([(new GuestAddress(0), LowSize), (new GuestAddress(HighStart), HighSize)]);
        var stopwatch = Stopwatch.StartNew();
        var outcomes = new Dictionary<string, int>();

        for (var iteration = 0; iteration < 2000; iteration++)
        {
            var size = (ushort)(1 << random.Next(0, 9));
            var features = (ulong)random.Next(0, 4) << VirtqueueFeatures.IndirectDescriptorsBit;
            var config = new SplitVirtqueueConfig(size, new GuestAddress(0x1000), new GuestAddress(0x3000), new GuestAddress(0x4000), features,
                (ushort)random.Next(0, 0x10000), (ushort)random.Next(0, 0x10000));
            var queue = new SplitVirtqueue(memory, config);

            // From nearly well-formed to pure noise.
            var hostility = random.NextDouble() * random.NextDouble();
            for (var i = 0; i < size; i++)
            {
                WriteRandomDescriptor(memory, random, 0x1000 + (16UL * (ulong)i), size, hostility);
            }

            // Indirect tables the descriptors may point at, equally garbage.
            for (var i = 0; i < 64; i++)
            {
                WriteRandomDescriptor(memory, random, 0x8000 + (16UL * (ulong)i), 64, hostility);
            }

            var ring = memory.GetSpan(new GuestAddress(0x3000), (int)SplitVirtqueue.AvailableRingSize(size));
            random.NextBytes(ring);
            if (random.Next(2) == 0)
            {
                // A plausible avail index, so pops get past the index check.
                var index = (ushort)(config.NextAvailableIndex + random.Next(0, size + 1));
                BitConverter.TryWriteBytes(ring[2..], index);
                for (var slot = 0; slot < size; slot++)
                {
                    BitConverter.TryWriteBytes(ring[(4 + (2 * slot))..], (ushort)random.Next(0, random.NextDouble() < hostility ? 0x10000 : size));
                }
            }

            var before = memory.GetSpan(new GuestAddress(0), (int)LowSize).ToArray();
            var outcome = PopAll(memory, queue, size, stopwatch);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            Assert.True(memory.GetSpan(new GuestAddress(0), (int)LowSize).SequenceEqual(before), "a pop wrote guest memory");
        }

        // Both kinds of outcome happened, so the garbage exercised more than the first check.
        Assert.True(outcomes.GetValueOrDefault("chain") > 0, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("error") > 0, string.Join(", ", outcomes));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"took {stopwatch.Elapsed}");
    }

    private static string PopAll(GuestMemory memory, SplitVirtqueue queue, ushort size, Stopwatch stopwatch)
    {
        var outcome = "empty";
        for (var pops = 0; pops <= size; pops++)
        {
            var start = stopwatch.Elapsed;
            try
            {
                if (!queue.TryPop(memory, out var chain))
                {
                    return outcome;
                }

                outcome = "chain";
                Assert.True(chain.DescriptorCount <= size + 65536);
                Assert.All(chain.Readable.ToArray().Concat(chain.Writable.ToArray()), s => Assert.True(memory.IsValid(s.Address, s.Length)));
                Assert.Equal(chain.ReadableLength, (uint)chain.Readable.ToArray().Sum(s => (long)s.Length));
                Assert.Equal(chain.WritableLength, (uint)chain.Writable.ToArray().Sum(s => (long)s.Length));
            }
            catch (VirtqueueException)
            {
                return "error";
            }

            Assert.True(stopwatch.Elapsed - start < TimeSpan.FromSeconds(1), "one pop took over a second");
        }

        Assert.Fail("popped more chains than the queue holds");
        return outcome;
    }

    /// <summary>Each field is noise with probability <paramref name="hostility"/>, otherwise plausible, so walks go deep.</summary>
    private static void WriteRandomDescriptor(GuestMemory memory, Random random, ulong at, int tableSize, double hostility)
    {
        var noisy = () => random.NextDouble() < hostility;
        ulong address = !noisy() ? (ulong)random.Next(0x10000, (int)LowSize - 0x1000) : random.Next(5) switch
        {
            0 => (ulong)random.NextInt64(),
            1 => HighStart + (ulong)random.Next(0, (int)HighSize),
            2 => 0xC000_0000UL + (ulong)random.Next(),
            3 => LowSize - (ulong)random.Next(0, 0x100),
            _ => 0x8000 + (16UL * (ulong)random.Next(0, 64)), // an indirect table
        };
        var length = !noisy() ? (uint)random.Next(0, 0x1000) : random.Next(2) switch
        {
            0 => (uint)random.NextInt64(0, 1L << 32),
            _ => 16u * (uint)random.Next(0, 70),
        };
        var flags = (ushort)(!noisy() ? random.Next(0, 4) : random.Next(0, 0x10000));
        var next = (ushort)(!noisy() ? random.Next(0, tableSize) : random.Next(0, 0x10000));
        memory.Write(new GuestAddress(at), address);
        memory.Write(new GuestAddress(at + 8), length);
        memory.Write(new GuestAddress(at + 12), flags);
        memory.Write(new GuestAddress(at + 14), next);
    }
}
