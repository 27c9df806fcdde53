namespace Sharpvisor.Display.Rfb;

/// <summary>The client broke the protocol (or a limit): its session ends with this one-line reason.</summary>
internal sealed class RfbProtocolException(string message) : Exception(message);
