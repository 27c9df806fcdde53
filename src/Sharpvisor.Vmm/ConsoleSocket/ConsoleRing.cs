namespace Sharpvisor.Vmm.ConsoleSocket;

/// <summary>
/// The last <see cref="Capacity"/> bytes of console output, oldest first. Not thread-safe: its owner
/// (<see cref="ConsoleFanOut"/>) serialises appends and snapshots.
/// </summary>
public sealed class ConsoleRing
{
    public const int DefaultCapacity = 64 * 1024;

    private readonly byte[] _buffer;
    private int _next; // where the next byte goes
    private bool _full;

    public ConsoleRing(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _buffer = new byte[capacity];
    }

    public int Capacity => _buffer.Length;

    public int Count => _full ? _buffer.Length : _next;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= _buffer.Length)
        {
            // Only the tail survives anyway.
            bytes[^_buffer.Length..].CopyTo(_buffer);
            _next = 0;
            _full = true;
            return;
        }

        var first = Math.Min(bytes.Length, _buffer.Length - _next);
        bytes[..first].CopyTo(_buffer.AsSpan(_next));
        bytes[first..].CopyTo(_buffer);
        var end = _next + bytes.Length;
        _full |= end >= _buffer.Length;
        _next = end % _buffer.Length;
    }

    /// <summary>The kept bytes in the order they were written.</summary>
    public byte[] Snapshot()
    {
        if (!_full)
        {
            return _buffer.AsSpan(0, _next).ToArray();
        }

        var copy = new byte[_buffer.Length];
        _buffer.AsSpan(_next).CopyTo(copy);
        _buffer.AsSpan(0, _next).CopyTo(copy.AsSpan(_buffer.Length - _next));
        return copy;
    }
}
