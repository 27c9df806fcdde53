using Sharpvisor.Storage;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Block;

/// <summary>
/// A disk in host memory that a source function and the function restored from it can share, as two VMMs share an
/// image file. Writes can be held at a gate (a backend slow or stuck in the host's storage); disposing does nothing,
/// so that disposing one function leaves the disk to the other.
/// </summary>
internal sealed class MemoryDisk(int size) : IBlockBackend
{
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(60);

    private readonly byte[] _bytes = new byte[size];
    private long _writes;

    /// <summary>While not null and not set, writes wait here (at most a minute, so a failed test ends).</summary>
    public ManualResetEventSlim? Gate { get; set; }

    /// <summary>Set once a write has reached the disk.</summary>
    public ManualResetEventSlim WriteEntered { get; } = new();

    public long Writes => Interlocked.Read(ref _writes);

    public ulong Size => (ulong)_bytes.Length;

    public bool ReadOnly => false;

    public byte[] Contents(long offset, int length)
    {
        lock (_bytes)
        {
            return _bytes.AsSpan((int)offset, length).ToArray();
        }
    }

    public void Read(long offset, Span<byte> destination)
    {
        lock (_bytes)
        {
            _bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        WriteEntered.Set();
        _ = Gate?.Wait(Ceiling);
        lock (_bytes)
        {
            source.CopyTo(_bytes.AsSpan((int)offset));
        }

        Interlocked.Increment(ref _writes);
    }

    public void Flush()
    {
    }

    public void Discard(long offset, long length)
    {
    }

    public void WriteZeroes(long offset, long length)
    {
        lock (_bytes)
        {
            _bytes.AsSpan((int)offset, (int)length).Clear();
        }
    }

    public void Dispose()
    {
    }
}
