namespace Sharpvisor.Display.Rfb;

/// <summary>
/// Reads a client's bytes through one fixed buffer, so parsing a small message costs no system call once its bytes
/// arrived together. Nothing the client says makes it grow: longer payloads are read in pieces or skipped.
/// </summary>
internal sealed class RfbInput(Stream stream)
{
    public const int BufferSize = 8192;

    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start;
    private int _end;

    /// <summary>
    /// The next <paramref name="count"/> bytes (at most <see cref="BufferSize"/>), valid until the next call. The end
    /// of the stream before them is an <see cref="EndOfStreamException"/>.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, BufferSize);
        if (_end - _start < count)
        {
            await FillAsync(count, cancellationToken).ConfigureAwait(false);
        }

        var result = _buffer.AsMemory(_start, count);
        _start += count;
        return result;
    }

    public async ValueTask<byte> ReadByteAsync(CancellationToken cancellationToken) =>
        (await ReadAsync(1, cancellationToken).ConfigureAwait(false)).Span[0];

    /// <summary>Reads and drops <paramref name="count"/> bytes.</summary>
    public async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var piece = (int)Math.Min(count, BufferSize);
            _ = await ReadAsync(piece, cancellationToken).ConfigureAwait(false);
            count -= piece;
        }
    }

    private async ValueTask FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        while (_end < count)
        {
            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException("the client closed the connection");
            }

            _end += read;
        }
    }
}
