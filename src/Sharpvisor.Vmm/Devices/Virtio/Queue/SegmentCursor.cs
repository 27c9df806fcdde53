using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Queue;

/// <summary>
/// Walks bytes [skip, skip + length) of a chain's segments as guest ranges of at most <c>maxPiece</c> bytes each,
/// in chain order, without allocating. Each step consumes a segment or a piece of one, so the walk always ends.
/// </summary>
public ref struct SegmentCursor
{
    private readonly ReadOnlySpan<GuestSegment> _segments;
    private readonly int _maxPiece;
    private int _next;
    private ulong _skip;
    private ulong _left;
    private GuestAddress _pieceStart;
    private ulong _pieceLeft;

    public SegmentCursor(ReadOnlySpan<GuestSegment> segments, ulong skip, ulong length, int maxPiece = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPiece);
        _segments = segments;
        _skip = skip;
        _left = length;
        _maxPiece = maxPiece;
    }

    /// <summary>The next range; false when <c>length</c> bytes were walked or the segments ran out.</summary>
    public bool MoveNext(out GuestAddress address, out int length)
    {
        while (_pieceLeft == 0)
        {
            if (_left == 0 || _next >= _segments.Length)
            {
                address = default;
                length = 0;
                return false;
            }

            var segment = _segments[_next++];
            if (_skip >= segment.Length)
            {
                _skip -= segment.Length;
                continue;
            }

            _pieceStart = segment.Address + _skip;
            _pieceLeft = Math.Min(segment.Length - _skip, _left);
            _left -= _pieceLeft;
            _skip = 0;
        }

        length = (int)Math.Min(_pieceLeft, (ulong)_maxPiece);
        address = _pieceStart;
        _pieceStart += (ulong)length;
        _pieceLeft -= (ulong)length;
        return true;
    }
}
