namespace Sharpvisor.Display.Rfb;

/// <summary>How an <see cref="RfbServer"/> greets and bounds its clients.</summary>
public sealed class RfbServerOptions
{
    /// <summary>The name clients show in their title (ServerInit).</summary>
    public string DesktopName { get; init; } = "Sharpvisor";

    /// <summary>VNC authentication (a password and/or one-time tickets); null offers security type None.</summary>
    public VncAuthentication? Authentication { get; init; }

    /// <summary>Clients served at once, counting those still in the handshake; more are refused with a reason.</summary>
    public int MaxClients { get; init; } = 16;

    /// <summary>The whole handshake, from the server's version to ClientInit, must fit in this.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a client that failed VNC authentication waits for its answer, its connection held meanwhile: with at
    /// most <see cref="MaxClients"/> connections, guesses come a few a second instead of thousands. Zero: none.
    /// </summary>
    public TimeSpan AuthenticationFailureDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A client message, once its first byte arrived, must be complete within this.</summary>
    public TimeSpan MessageTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A client that takes none of an update's bytes for this long is dropped (it stalls only itself).</summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where the server says, one line each, why a client went away; null says nothing.</summary>
    public Action<string>? Log { get; init; }
}
