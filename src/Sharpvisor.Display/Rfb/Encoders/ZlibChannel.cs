using System.IO.Compression;

namespace Sharpvisor.Display.Rfb.Encoders;

/// <summary>
/// One zlib stream that lives as long as the connection (ZRLE has one, Tight up to four): the client keeps the
/// matching inflater, so the dictionary carries over from one rectangle to the next. Each rectangle's bytes end with a
/// sync flush (ZLibStream.Flush emits one: 00 00 FF FF), which lets the client decode all of them without the stream
/// ever ending.
/// </summary>
internal sealed class ZlibChannel : IDisposable
{
    private readonly MemoryStream _compressed = new();
    private readonly ZLibStream _zlib;

    /// <param name="level">zlib's level, 0 (store) to 9 (smallest).</param>
    public ZlibChannel(int level) =>
        _zlib = new ZLibStream(_compressed, new ZLibCompressionOptions { CompressionLevel = Math.Clamp(level, 0, 9) }, leaveOpen: true);

    public void Write(ReadOnlySpan<byte> data) => _zlib.Write(data);

    /// <summary>
    /// Flushes and returns everything compressed since the last call; valid until the next <see cref="Write"/>
    /// (the memory is reused, which keeps a channel's buffer at the size of the largest rectangle).
    /// </summary>
    public ReadOnlySpan<byte> Flush()
    {
        _zlib.Flush();
        var length = (int)_compressed.Length;
        _compressed.SetLength(0);
        return _compressed.GetBuffer().AsSpan(0, length);
    }

    public void Dispose()
    {
        _zlib.Dispose();
        _compressed.Dispose();
    }
}
