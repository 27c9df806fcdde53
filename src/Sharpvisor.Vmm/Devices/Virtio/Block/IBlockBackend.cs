namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>Where a virtual disk's bytes live. Offsets and lengths are checked by the caller against <see cref="Size"/>.</summary>
public interface IBlockBackend : IDisposable
{
    ulong Size { get; }

    bool ReadOnly { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; bytes past the end of the data read as zero.</summary>
    void Read(long offset, Span<byte> destination);

    void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable (fdatasync for a file).</summary>
    void Flush();

    /// <summary>The guest no longer needs the range; its contents become unspecified (here: zeros or unchanged).</summary>
    void Discard(long offset, long length);

    void WriteZeroes(long offset, long length);
}
