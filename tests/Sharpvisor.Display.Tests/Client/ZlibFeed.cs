using System.IO.Compression;

namespace Sharpvisor.Display.Tests.Client;

/// <summary>
/// One client-side zlib stream that lives across rectangles, as a decoder keeps it: each rectangle's compressed bytes
/// are fed in, then exactly the bytes the rectangle needs are read out. If the server did not sync-flush, the read
/// runs dry and fails.
/// </summary>
internal sealed class ZlibFeed : IDisposable
{
    private readonly ChunkStream _chunks = new();
    private readonly ZLibStream _inflater;

    public ZlibFeed() => _inflater = new ZLibStream(_chunks, CompressionMode.Decompress);

    public void Feed(byte[] compressed) => _chunks.Add(compressed);

    public byte[] Read(int count)
    {
        var bytes = new byte[count];
        _inflater.ReadExactly(bytes);
        return bytes;
    }

    public byte ReadByte() => Read(1)[0];

    public void Dispose() => _inflater.Dispose();

    /// <summary>A stream of the chunks fed so far; empty means "nothing more arrived" (a read of 0).</summary>
    private sealed class ChunkStream : Stream
    {
        private readonly Queue<byte[]> _queue = new();
        private byte[] _current = [];
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Add(byte[] chunk) => _queue.Enqueue(chunk);

        public override int Read(byte[] buffer, int offset, int count)
        {
            while (_offset == _current.Length)
            {
                if (!_queue.TryDequeue(out var next))
                {
                    return 0;
                }

                (_current, _offset) = (next, 0);
            }

            var n = Math.Min(count, _current.Length - _offset);
            Array.Copy(_current, _offset, buffer, offset, n);
            _offset += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
