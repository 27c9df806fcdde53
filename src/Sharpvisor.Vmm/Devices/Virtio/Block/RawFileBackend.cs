using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// A raw image file, opened once for the life of the VM and closed on dispose. A writable image is locked
/// exclusively (flock) so two VMs cannot write one disk; a read-only one shares its lock with other readers. A live
/// migration hands the exclusive lock over: the destination opens the image unlocked, the source drops its lock just
/// before it lets the destination run (<see cref="ReleaseWriteLock"/>), the destination takes it (<see cref="TryTakeWriteLock"/>).
/// </summary>
public sealed class RawFileBackend : IBlockBackend
{
    private const int ZeroChunk = 1 << 20;

    /// <summary>The most a write-zeroes segment may write by hand (the request size cap of reads and writes).</summary>
    private const long MaxZeroWrite = BlockRequest.MaxRequestBytes;

    private readonly SafeFileHandle _file;

    private RawFileBackend(SafeFileHandle file, ulong size, bool readOnly)
    {
        _file = file;
        Size = size;
        ReadOnly = readOnly;
    }

    public ulong Size { get; }

    public bool ReadOnly { get; }

    /// <summary>
    /// Opens <paramref name="path"/>; IOException and UnauthorizedAccessException carry the reason. With
    /// <paramref name="locked"/> false a writable image is opened without its lock (a migration's destination, whose
    /// source still holds it): <see cref="TryTakeWriteLock"/> takes it before the guest may write.
    /// </summary>
    public static RawFileBackend Open(string path, bool readOnly, bool locked = true)
    {
        var file = OpenFile(path, readOnly, locked);
        try
        {
            return new RawFileBackend(file, (ulong)RandomAccess.GetLength(file), readOnly);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The image file as every format opens it: the launcher's handle for a confined VMM (opened, and locked unless
    /// incoming, with the access the definition gives), else opened here, locked as <see cref="Open"/> says.
    /// </summary>
    public static SafeFileHandle OpenFile(string path, bool readOnly, bool locked = true) =>
        InheritedFiles.Take(path) ?? (readOnly || locked
            ? File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, readOnly ? FileShare.Read : FileShare.None)
            : HostFile.OpenReadWriteUnlocked(path));

    public void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
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
        CheckRange(offset, source.Length);
        RandomAccess.Write(_file, source, offset);
    }

    public void Flush() => HostFile.FlushData(_file);

    public void Discard(long offset, long length)
    {
        CheckRange(offset, length);
        HostFile.TryPunchHole(_file, offset, length);
    }

    public void WriteZeroes(long offset, long length)
    {
        CheckRange(offset, length);
        if (HostFile.TryZeroRange(_file, offset, length))
        {
            return;
        }

        if (length > MaxZeroWrite)
        {
            // Without ZERO_RANGE this would be that many bytes written by hand for one request: the guest writes them.
            throw new IOException($"write-zeroes of {length} bytes without fallocate(ZERO_RANGE) is over {MaxZeroWrite}");
        }

        var zeros = new byte[(int)Math.Min(length, ZeroChunk)];
        for (var done = 0L; done < length; done += zeros.Length)
        {
            RandomAccess.Write(_file, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)), offset + done);
        }
    }

    /// <summary>
    /// Makes every write durable and drops the exclusive lock, so that a migration's destination can take it. A
    /// read-only image keeps its shared lock: readers never need to hand it over.
    /// </summary>
    public void ReleaseWriteLock()
    {
        if (!ReadOnly)
        {
            Flush();
            HostFile.Unlock(_file);
        }
    }

    /// <summary>Takes the exclusive lock back, or for the first time; false when another process holds a lock on the image.</summary>
    public bool TryTakeWriteLock() => ReadOnly || HostFile.TryLockExclusive(_file);

    public void Dispose() => _file.Dispose();

    /// <summary>The last line of defence behind the device's own sector checks: nothing outside [0, Size).</summary>
    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || (ulong)length > Size || (ulong)offset > Size - (ulong)length)
        {
            throw new IOException($"disk access of {length} bytes at offset {offset} is outside the image of {Size} bytes");
        }
    }
}
