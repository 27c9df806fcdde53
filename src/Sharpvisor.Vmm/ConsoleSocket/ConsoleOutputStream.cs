namespace Sharpvisor.Vmm.ConsoleSocket;

/// <summary>A write-only stream that publishes to a <see cref="ConsoleFanOut"/>; writes never block.</summary>
public sealed class ConsoleOutputStream(ConsoleFanOut fanOut) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer) => fanOut.Publish(buffer);

    public override void WriteByte(byte value) => fanOut.Publish([value]);

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
