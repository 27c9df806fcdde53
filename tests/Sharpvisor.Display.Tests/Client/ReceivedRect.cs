namespace Sharpvisor.Display.Tests.Client;

/// <summary>A rectangle header as the test client read it.</summary>
internal readonly record struct ReceivedRect(int X, int Y, int Width, int Height, int Encoding)
{
    public Rect Area => new(X, Y, Width, Height);
}
