namespace Sharpvisor.Storage;

/// <summary>The last line of defence behind a device's own sector checks: nothing outside [0, size).</summary>
internal static class BlockRange
{
    public static void Check(ulong size, long offset, long length)
    {
        if (offset < 0 || length < 0 || (ulong)length > size || (ulong)offset > size - (ulong)length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), $"disk access of {length} bytes at offset {offset} is outside the image of {size} bytes");
        }
    }

    public static void CheckWritable(bool readOnly)
    {
        if (readOnly)
        {
            throw new InvalidOperationException("the image is open read-only");
        }
    }
}
