using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Storage;

/// <summary>
/// A raw image: the file's bytes are the disk's bytes. A writable image is locked exclusively (flock, through
/// FileShare.None) so two writers cannot share a disk; a read-only one shares its lock with other readers.
/// </summary>
public sealed class RawImage : IBlockBackend
{
    private const int ZeroChunk = 1 << 20;

    private readonly SafeFileHandle _file;

    private RawImage(SafeFileHandle file, ulong size, bool readOnly)
    {
        _file = file;
        Size = size;
        ReadOnly = readOnly;
    }

    /// <summary>
    /// Where a file's next data at or after an offset begins and ends, or null when only a hole follows (lseek's
    /// SEEK_DATA and SEEK_HOLE: the host layer's, this library makes no system calls); null: every byte is data.
    /// </summary>
    public Func<SafeFileHandle, long, (long Start, long End)?>? DataMap { get; init; }

    /// <inheritdoc/>
    public ulong Size { get; }

    /// <inheritdoc/>
    public bool ReadOnly { get; }

    /// <summary>Opens <paramref name="path"/>; IOException and UnauthorizedAccessException carry the reason.</summary>
    public static RawImage Open(string path, bool readOnly) => Open(path, readOnly, null);

    /// <summary>As <see cref="Open(string, bool)"/>, with the file's <paramref name="dataMap"/> (see <see cref="DataMap"/>).</summary>
    public static RawImage Open(string path, bool readOnly, Func<SafeFileHandle, long, (long Start, long End)?>? dataMap)
    {
        var file = File.OpenHandle(
            path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, readOnly ? FileShare.Read : FileShare.None);
        return Open(file, readOnly, dataMap);
    }

    /// <summary>
    /// An image on a <paramref name="file"/> its caller opened (and locked, if it must be: a launcher may hand over
    /// descriptors); the image owns it from here, and disposes of it also when this throws.
    /// </summary>
    public static RawImage Open(SafeFileHandle file, bool readOnly) => Open(file, readOnly, null);

    private static RawImage Open(SafeFileHandle file, bool readOnly, Func<SafeFileHandle, long, (long Start, long End)?>? dataMap)
    {
        ArgumentNullException.ThrowIfNull(file);
        try
        {
            return new RawImage(file, (ulong)RandomAccess.GetLength(file), readOnly) { DataMap = dataMap };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Read(long offset, Span<byte> destination)
    {
        BlockRange.Check(Size, offset, destination.Length);
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(_file, destination, offset);
            if (read == 0)
            {
                destination.Clear(); // the file shrank under us: past its end reads as zeros
                return;
            }

            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>Writes inside the image only: a write past its end would grow the file and fill the host's disk.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        BlockRange.CheckWritable(ReadOnly);
        BlockRange.Check(Size, offset, source.Length);
        RandomAccess.Write(_file, source, offset);
    }

    /// <inheritdoc/>
    public void Flush()
    {
        if (!ReadOnly)
        {
            RandomAccess.FlushToDisk(_file);
        }
    }

    /// <summary>Leaves the bytes as they are: "unspecified" allows it, and it needs no fallocate.</summary>
    public void Discard(long offset, long length)
    {
        BlockRange.CheckWritable(ReadOnly);
        BlockRange.Check(Size, offset, length);
    }

    /// <inheritdoc/>
    public void WriteZeroes(long offset, long length)
    {
        BlockRange.CheckWritable(ReadOnly);
        BlockRange.Check(Size, offset, length);
        var zeros = new byte[(int)Math.Min(length, ZeroChunk)];
        for (var done = 0L; done < length; done += zeros.Length)
        {
            RandomAccess.Write(_file, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)), offset + done);
        }
    }

    /// <summary>The file's holes, as <see cref="DataMap"/> finds them; without one, data to the end.</summary>
    public BlockExtent ExtentAt(long offset) => ExtentAt(offset, long.MaxValue);

    /// <inheritdoc cref="ExtentAt(long)"/>
    public BlockExtent ExtentAt(long offset, long maxLength)
    {
        BlockRange.Check(Size, offset, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var end = offset + Math.Min(maxLength, (long)Size - offset);
        if (DataMap is null)
        {
            return new BlockExtent(false, end - offset);
        }

        if (DataMap(_file, offset) is not { } data)
        {
            return new BlockExtent(true, end - offset); // only a hole to the file's end
        }

        // A file that changed under the map (or a map that answers nonsense) is data from here: never a hole unproven.
        return data.Start > offset ? new BlockExtent(true, Math.Min(data.Start, end) - offset)
            : data.Start == offset && data.End > offset ? new BlockExtent(false, Math.Min(data.End, end) - offset)
            : new BlockExtent(false, end - offset);
    }

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
