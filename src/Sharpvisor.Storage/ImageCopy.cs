namespace Sharpvisor.Storage;

/// <summary>
/// Copies a disk's guest-visible bytes into another, reading only what may hold data (<see cref="IBlockBackend.ExtentAt(long, long)"/>)
/// and writing only chunks that are not all zeros, so the copy of a thin image is thin and quick whatever its size.
/// </summary>
public static class ImageCopy
{
    /// <summary>
    /// Copies <paramref name="size"/> bytes of <paramref name="input"/> (past its end: zeros) chunk by chunk to
    /// <paramref name="write"/>, chunks aligned to <paramref name="chunkBytes"/>; <paramref name="progress"/> hears bytes done and the total.
    /// </summary>
    public static void Copy(IBlockBackend input, ulong size, int chunkBytes, Action<long, byte[]> write, Action<ulong, ulong>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(write);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 512);
        var chunk = new byte[chunkBytes];
        var step = (ulong)chunkBytes;
        var end = Math.Min(size, input.Size);
        var dataEnd = 0UL; // the end of the last run found to hold data: no need to ask again before it
        for (var offset = 0UL; offset < end;)
        {
            // A run of zeros skips the whole chunks it covers; a chunk it covers in part is read like any other.
            if (offset >= dataEnd)
            {
                var extent = input.ExtentAt((long)offset, (long)(end - offset));
                var runEnd = Math.Min(end, offset + (ulong)Math.Max(1, extent.Length));
                var skipTo = runEnd / step * step;
                if (extent.Zero && skipTo > offset)
                {
                    offset = skipTo;
                    progress?.Invoke(offset, size);
                    continue;
                }

                dataEnd = extent.Zero ? offset + step : runEnd;
            }

            var length = (int)Math.Min(step, size - offset);
            var fromSource = (int)Math.Min((ulong)length, end - offset);
            var data = length == chunk.Length ? chunk : new byte[length];
            input.Read((long)offset, data.AsSpan(0, fromSource));
            data.AsSpan(fromSource).Clear();
            if (data.AsSpan().ContainsAnyExcept((byte)0))
            {
                write((long)offset, data);
            }

            offset += (ulong)length;
            progress?.Invoke(offset, size);
        }

        progress?.Invoke(size, size);
    }
}
