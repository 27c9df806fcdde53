using System.Threading.Channels;

namespace Sharpvisor.Display.Tests.Support;

/// <summary>An <see cref="IDisplayInput"/> that queues what it is told, for the tests to await.</summary>
internal sealed class RecordingInput : IDisplayInput
{
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();

    public void Key(uint keysym, uint scancode, bool down) => _events.Writer.TryWrite(new KeyEvent(keysym, scancode, down));

    public void Pointer(int x, int y, int width, int height, int buttons) =>
        _events.Writer.TryWrite(new PointerEvent(x, y, width, height, buttons));

    public async Task<object> NextAsync()
    {
        using var deadline = new CancellationTokenSource(Client.RfbTestClient.Ceiling);
        return await _events.Reader.ReadAsync(deadline.Token);
    }

    public sealed record KeyEvent(uint Keysym, uint Scancode, bool Down);

    public sealed record PointerEvent(int X, int Y, int Width, int Height, int Buttons);
}
