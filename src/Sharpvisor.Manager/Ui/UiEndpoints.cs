using Microsoft.AspNetCore.Routing;

namespace Sharpvisor.Manager.Ui;

/// <summary>The web UI's static files (index.html, app.js, xterm.js); the daemon maps them after the API.</summary>
public static class UiEndpoints
{
    // Filled in by the web UI work: until then the daemon serves the API only.
    public static IEndpointRouteBuilder MapUi(this IEndpointRouteBuilder endpoints) => endpoints;
}
