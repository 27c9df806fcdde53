namespace Sharpvisor.Storage.Tests;

/// <summary>
/// Seeded random writes, discards and write-zeroes applied to an image and to a raw reference, so that both must hold
/// the same bytes. A discard on qcow2 zeroes the whole clusters it covers and leaves its edges; the reference does the same.
/// </summary>
internal sealed class Workload(Random random, long clusterSize)
{
    public void Step(IBlockBackend image, IBlockBackend reference)
    {
        var size = (long)image.Size;
        var offset = random.NextInt64(size);
        var length = random.Next(4) switch
        {
            0 => random.NextInt64(1, 600),
            1 => random.NextInt64(1, clusterSize * 3),
            2 => clusterSize * random.NextInt64(1, 4),
            _ => random.NextInt64(1, clusterSize / 2),
        };
        if (random.Next(3) == 0)
        {
            offset -= offset % clusterSize; // aligned starts make whole-cluster writes, zeroes and discards
        }

        length = Math.Min(length, size - offset);
        switch (random.Next(10))
        {
            case < 7:
                var data = new byte[length];
                random.NextBytes(data);
                image.Write(offset, data);
                reference.Write(offset, data);
                break;
            case < 9:
                image.WriteZeroes(offset, length);
                reference.WriteZeroes(offset, length);
                break;
            default:
                image.Discard(offset, length);
                var start = (offset + clusterSize - 1) / clusterSize * clusterSize;
                var end = (offset + length) == size ? size : (offset + length) / clusterSize * clusterSize;
                if (end > start)
                {
                    reference.WriteZeroes(start, end - start);
                }

                break;
        }
    }
}
