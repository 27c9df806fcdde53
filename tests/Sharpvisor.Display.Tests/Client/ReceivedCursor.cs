namespace Sharpvisor.Display.Tests.Client;

/// <summary>A Cursor pseudo-rectangle as the test client decoded it.</summary>
internal sealed record ReceivedCursor(int HotspotX, int HotspotY, int Width, int Height, uint[] Pixels, bool[] Visible);
