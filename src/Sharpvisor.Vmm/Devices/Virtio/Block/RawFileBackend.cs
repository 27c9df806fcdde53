using Microsoft.Win32.SafeHandles;
using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// A raw image file, opened once for the life of the VM and closed on dispose. A writable image is locked
/// exclusively (flock) so two VMs cannot write one disk; a read-only one shares its lock with other readers. A live
/// migration hands the exclusive lock over: the destination opens the image unlocked, the source drops its lock just
/// before it lets the destination run (<see cref="ReleaseWriteLock"/>), the destination takes it (<see cref="TryTakeWriteLock"/>).
/// The bytes go through the storage layer's <see cref="RawImage"/>; what is the VMM's own is how the file is opened and
/// locked, the host's fallocate and fdatasync, and the IOException a device answers with an I/O error.
/// </summary>
public sealed class RawFileBackend : IBlockBackend
{
    /// <summary>The most a write-zeroes segment may write by hand (the request size cap of reads and writes).</summary>
    private const long MaxZeroWrite = BlockRequest.MaxRequestBytes;

    private readonly RawImage _image;

    // The image's own handle (it owns and disposes of it): the host calls below (fallocate, fdatasync, flock) act on it.
    private readonly SafeFileHandle _file;

    private RawFileBackend(RawImage image, SafeFileHandle file)
    {
        _image = image;
        _file = file;
    }

    public ulong Size => _image.Size;

    public bool ReadOnly => _image.ReadOnly;

    /// <summary>
    /// Opens <paramref name="path"/>; IOException and UnauthorizedAccessException carry the reason. With
    /// <paramref name="locked"/> false a writable image is opened without its lock (a migration's destination, whose
    /// source still holds it): <see cref="TryTakeWriteLock"/> takes it before the guest may write.
    /// </summary>
    public static RawFileBackend Open(string path, bool readOnly, bool locked = true)
    {
        var file = OpenFile(path, readOnly, locked);
        return new RawFileBackend(RawImage.Open(file, readOnly), file); // RawImage.Open disposes of the file if it throws
    }

    /// <summary>
    /// The image file as every format opens it: the launcher's handle for a confined VMM (opened, and locked unless
    /// incoming, with the access the definition gives), else opened here, locked as <see cref="Open"/> says.
    /// </summary>
    public static SafeFileHandle OpenFile(string path, bool readOnly, bool locked = true)
    {
        if (InheritedFiles.Take(path) is { } inherited)
        {
            return inherited;
        }

        _ = RequireRegular(path);
        return readOnly || locked
            ? File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, readOnly ? FileShare.Read : FileShare.None)
            : HostFile.OpenReadWriteUnlocked(path);
    }

    /// <summary>
    /// Throws a clear IOException unless <paramref name="path"/> is a regular file (or missing: the open says so):
    /// a FIFO would block the open or read nothing, a device has no size .NET can read. Always null, for chaining.
    /// </summary>
    public static SafeFileHandle? RequireRegular(string path) => HostFile.KindOf(path) switch
    {
        HostFileKind.Regular or HostFileKind.Missing or HostFileKind.NoAccess => null,
        HostFileKind.Directory => throw new IOException($"{path} is a directory, not a disk image"),
        HostFileKind.BlockDevice or HostFileKind.CharacterDevice => throw new IOException($"{path} is a device node: give a disk image file (block devices are not supported yet)"),
        _ => throw new IOException($"{path} is a FIFO or a socket, not a disk image file"),
    };

    public void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        _image.Read(offset, destination);
    }

    /// <summary>Writes inside the image only: a write past its end would grow the file and fill the host's disk.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        CheckRange(offset, source.Length);
        _image.Write(offset, source);
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

        _image.WriteZeroes(offset, length);
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

    public void Dispose() => _image.Dispose();

    /// <summary>
    /// The last line of defence behind the device's own sector checks: nothing outside [0, Size). Checked here before
    /// the image checks again, so that a bad range is the IOException the device answers with an I/O error (the image
    /// would throw ArgumentOutOfRangeException).
    /// </summary>
    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || (ulong)length > Size || (ulong)offset > Size - (ulong)length)
        {
            throw new IOException($"disk access of {length} bytes at offset {offset} is outside the image of {Size} bytes");
        }
    }
}
