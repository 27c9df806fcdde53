namespace Sharpvisor.Display.Tests.Client;

/// <summary>The server refused the handshake; <see cref="Exception.Message"/> is its reason (empty when the version sends none).</summary>
internal sealed class RfbRefusedException(string reason) : Exception(reason);
