namespace Sharpvisor.Storage;

/// <summary>
/// Where a virtual disk's bytes live: an image here, or the VMM's file of a virtio-blk disk. Callers check offsets and
/// lengths against <see cref="Size"/>; implementations check again and throw (the images here
/// <see cref="ArgumentOutOfRangeException"/>, the VMM's backends an <see cref="IOException"/>, which the device answers
/// with an I/O error), so that no bug above can write outside the disk.
/// </summary>
public interface IBlockBackend : IDisposable
{
    /// <summary>The virtual disk's size in bytes.</summary>
    ulong Size { get; }

    /// <summary>True when writes, discards and write-zeroes are refused.</summary>
    bool ReadOnly { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; bytes past the end of the data read as zero.</summary>
    void Read(long offset, Span<byte> destination);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>; durable only after <see cref="Flush"/>.</summary>
    void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable (fdatasync for a file).</summary>
    void Flush();

    /// <summary>The guest no longer needs the range; its contents become unspecified (here: zeros or unchanged).</summary>
    void Discard(long offset, long length);

    /// <summary>The range reads as zeros afterwards.</summary>
    void WriteZeroes(long offset, long length);

    /// <summary>
    /// The run that starts at <paramref name="offset"/> (inside the disk): zeros for sure, or maybe data. A tool walks an
    /// image by these runs and reads only the data ones. Without an allocation map: data to the end.
    /// </summary>
    BlockExtent ExtentAt(long offset) => ExtentAt(offset, long.MaxValue);

    /// <summary>
    /// As <see cref="ExtentAt(long)"/>, looking no further than <paramref name="maxLength"/> bytes (at least 1): the
    /// answer may be shorter, never longer. What a chain asks of its backing image, so each level looks only as far
    /// as the level above needs.
    /// </summary>
    BlockExtent ExtentAt(long offset, long maxLength)
    {
        BlockRange.Check(Size, offset, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        return new BlockExtent(false, Math.Min(maxLength, (long)Size - offset));
    }
}
