using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Storage.Tests;

/// <summary>
/// An image's runs of zeros and data (<see cref="IBlockBackend.ExtentAt(long, long)"/>) and the copy that reads only the data: a
/// qcow2 chain answers from its tables, a raw file from its data map; a map that answers nonsense is never a hole.
/// </summary>
public sealed class ExtentTests
{
    private const int Cluster = 64 * 1024;

    private static List<(bool Zero, long Start, long End)> Runs(IBlockBackend image)
    {
        var runs = new List<(bool, long, long)>();
        for (var offset = 0L; offset < (long)image.Size;)
        {
            var extent = image.ExtentAt(offset);
            Assert.True(extent.Length > 0 && offset + extent.Length <= (long)image.Size, $"{extent} at {offset}");
            runs.Add((extent.Zero, offset, offset + extent.Length));
            offset += extent.Length;
        }

        return runs;
    }

    [Fact]
    public void A_qcow2_chain_says_zeros_for_clusters_nothing_below_holds()
    {
        using var directory = new TempDirectory();
        Qcow2Image.Create(directory["base.qcow2"], 16 * Cluster);
        using (var base_ = Qcow2Image.Open(directory["base.qcow2"], readOnly: false))
        {
            base_.Write(6 * Cluster + 100, [1]); // a cluster only the backing image has
            base_.Flush();
        }

        Qcow2Image.Create(directory["top.qcow2"], 16 * Cluster, backingFile: "base.qcow2", backingFormat: "qcow2");
        using var top = Qcow2Image.Open(directory["top.qcow2"], readOnly: false);
        top.Write(2 * Cluster, new byte[] { 7, 7 });
        top.Write(3 * Cluster, new byte[] { 8 });
        top.WriteZeroes(6 * Cluster, Cluster); // hides the backing's data: zeros now
        top.Write(9 * Cluster + 5, new byte[] { 9 });

        Assert.Equal([(true, 0, 2 * Cluster), (false, 2 * Cluster, 4 * Cluster), (true, 4 * Cluster, 9 * Cluster),
            (false, 9 * Cluster, 10 * Cluster), (true, 10 * Cluster, 16 * Cluster)], Runs(top));
        Assert.Equal(new BlockExtent(false, 2 * Cluster - 100), top.ExtentAt(2 * Cluster + 100)); // from inside a cluster
        using var base2 = Qcow2Image.Open(directory["base.qcow2"], readOnly: true);
        Assert.Equal(new BlockExtent(false, Cluster), base2.ExtentAt(6 * Cluster));
    }

    [Fact]
    public void A_deep_chain_of_empty_overlays_answers_as_its_base_does()
    {
        // Each level asks the one below only for the rest of the cluster it looks at: the cost grows with the depth,
        // not as a power of it (a chain of 12 empty overlays over 4096 clusters).
        using var directory = new TempDirectory();
        const long size = 4096L * Cluster;
        Qcow2Image.Create(directory["0.qcow2"], (ulong)size);
        using (var base_ = Qcow2Image.Open(directory["0.qcow2"], readOnly: false))
        {
            base_.Write(0, Enumerable.Repeat((byte)1, 3000 * Cluster).ToArray());
            base_.Flush();
        }

        for (var level = 1; level <= 12; level++)
        {
            Qcow2Image.Create(directory[$"{level}.qcow2"], (ulong)size, backingFile: $"{level - 1}.qcow2", backingFormat: "qcow2");
        }

        using var top = Qcow2Image.Open(directory["12.qcow2"], readOnly: true);
        Assert.Equal([(false, 0, 3000L * Cluster), (true, 3000L * Cluster, size)], Runs(top));
    }

    [Fact]
    public void A_raw_image_answers_from_its_data_map_and_a_wrong_map_never_makes_a_hole()
    {
        using var directory = new TempDirectory();
        File.WriteAllBytes(directory["disk.raw"], new byte[8 * Cluster]);
        (long, long)? map(long offset) => offset < 2 * Cluster ? (2 * Cluster, 3 * Cluster) : offset < 3 * Cluster ? (offset, 3 * Cluster) : null;

        using (var mapped = RawImage.Open(directory["disk.raw"], readOnly: true, (_, offset) => map(offset)))
        {
            Assert.Equal([(true, 0, 2 * Cluster), (false, 2 * Cluster, 3 * Cluster), (true, 3 * Cluster, 8 * Cluster)], Runs(mapped));
        }

        using (var plain = RawImage.Open(directory["disk.raw"], readOnly: true))
        {
            Assert.Equal([(false, 0, 8 * Cluster)], Runs(plain));
        }

        // Behind the offset, or empty: data to the end, not a hole.
        using var wrong = RawImage.Open(directory["disk.raw"], readOnly: true, (_, offset) => (offset - 1, offset));
        Assert.Equal([(false, 0, 8 * Cluster)], Runs(wrong));
        Assert.Throws<ArgumentOutOfRangeException>(() => wrong.ExtentAt(8 * Cluster));
    }

    [Fact]
    public void A_copy_of_a_thin_image_reads_its_data_only_and_writes_the_same_bytes()
    {
        using var directory = new TempDirectory();
        const long size = 64L << 30; // 64 GiB, two clusters written
        Qcow2Image.Create(directory["thin.qcow2"], size);
        using var image = Qcow2Image.Open(directory["thin.qcow2"], readOnly: false);
        image.Write(5L << 30, new byte[] { 1, 2, 3 });
        image.Write(size - Cluster, Enumerable.Repeat((byte)0xAB, Cluster).ToArray());
        var reading = new CountingBackend(image);
        var written = new Dictionary<long, byte[]>();

        ImageCopy.Copy(reading, image.Size, Cluster, (offset, chunk) => written[offset] = chunk.ToArray());

        Assert.Equal(2L * Cluster, reading.BytesRead);
        Assert.Equal([5L << 30, size - Cluster], written.Keys.Order());
        Assert.Equal(new byte[] { 1, 2, 3 }, written[5L << 30][..3]);
        Assert.All(written[size - Cluster], b => Assert.Equal(0xAB, b));
    }

    /// <summary>An image that counts the bytes read from it.</summary>
    private sealed class CountingBackend(IBlockBackend inner) : IBlockBackend
    {
        public long BytesRead { get; private set; }

        public ulong Size => inner.Size;

        public bool ReadOnly => true;

        public void Read(long offset, Span<byte> destination)
        {
            BytesRead += destination.Length;
            inner.Read(offset, destination);
        }

        public BlockExtent ExtentAt(long offset) => inner.ExtentAt(offset);

        public BlockExtent ExtentAt(long offset, long maxLength) => inner.ExtentAt(offset, maxLength);

        public void Write(long offset, ReadOnlySpan<byte> source) => throw new NotSupportedException();

        public void Flush()
        {
        }

        public void Discard(long offset, long length) => throw new NotSupportedException();

        public void WriteZeroes(long offset, long length) => throw new NotSupportedException();

        public void Dispose()
        {
        }
    }
}
