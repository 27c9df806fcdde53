using Sharpvisor.Kvm.Host;
using Sharpvisor.Storage;
using Sharpvisor.Storage.Qcow2;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// A disk in a format with metadata (qcow2, from Sharpvisor.Storage) as a virtio-blk backend. Whatever the image
/// throws becomes an <see cref="IOException"/>, which the device answers with an I/O error: a full refcount table or a
/// corrupt table the guest's request runs into fails that request, not the VMM.
/// </summary>
public sealed class FormattedImageBackend : IBlockBackend
{
    private readonly IBlockBackend _image;
    private readonly string _path;

    private FormattedImageBackend(IBlockBackend image, string path)
    {
        _image = image;
        _path = path;
    }

    public ulong Size => _image.Size;

    public bool ReadOnly => _image.ReadOnly;

    /// <summary>
    /// Opens the qcow2 image at <paramref name="path"/> (with its backing chain, read-only) on the file handle
    /// <see cref="RawFileBackend.OpenFile"/> gives; a confined VMM's launcher opened the backing files too. A migration's destination (<paramref name="locked"/> false) is
    /// refused: it would read the image's tables while the source still changes them.
    /// </summary>
    public static FormattedImageBackend OpenQcow2(string path, bool readOnly, bool locked = true)
    {
        if (!locked && !readOnly)
        {
            throw new IOException($"{path} is a qcow2 image: a VM with a writable qcow2 disk cannot migrate yet");
        }

        var file = RawFileBackend.OpenFile(path, readOnly, locked);
        try
        {
            // A backing file opened by path is held to a disk's rules first; the jail's were checked by the manager.
            return new FormattedImageBackend(Qcow2Image.Open(file, path, readOnly, openBacking: backing => InheritedFiles.Take(backing) ?? RawFileBackend.RequireRegular(backing)), path);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException
                                   or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            // A backing file that is missing or refused is not "no such file" for the disk the option names.
            file.Dispose();
            throw new IOException(e.Message, e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Read(long offset, Span<byte> destination)
    {
        try
        {
            _image.Read(offset, destination);
        }
        catch (Exception e) when (IsImageFault(e))
        {
            throw Fault(e);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        try
        {
            _image.Write(offset, source);
        }
        catch (Exception e) when (IsImageFault(e))
        {
            throw Fault(e);
        }
    }

    public void Flush() => Guarded(() => _image.Flush());

    public void Discard(long offset, long length) => Guarded(() => _image.Discard(offset, length));

    public void WriteZeroes(long offset, long length) => Guarded(() => _image.WriteZeroes(offset, length));

    /// <summary>
    /// Commits the image's cached tables (a clean shutdown leaves nothing for a later open to repair). A commit that
    /// fails (the host disk full, a table the image broke) is dropped, as a crash would drop it: the machine's other
    /// devices must still be torn down.
    /// </summary>
    public void Dispose()
    {
        try
        {
            _image.Dispose();
        }
        catch (Exception e) when (e is IOException || IsImageFault(e))
        {
        }
    }

    // Read and Write keep a try of their own: a span cannot be captured by a lambda.
    private void Guarded(Action operation)
    {
        try
        {
            operation();
        }
        catch (Exception e) when (IsImageFault(e))
        {
            throw Fault(e);
        }
    }

    // What an image may throw for a request it cannot serve (IOException passes as it is).
    private static bool IsImageFault(Exception e) => e is NotSupportedException or InvalidOperationException or ArgumentException;

    private IOException Fault(Exception e) => new($"{_path}: {e.Message}", e);
}
