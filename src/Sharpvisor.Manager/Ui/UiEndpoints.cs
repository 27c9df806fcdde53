using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Sharpvisor.Manager.Ui;

/// <summary>
/// The web UI: index.html, its scripts and styles, xterm.js, uPlot and noVNC, all embedded in this assembly by the build (see
/// Sharpvisor.Manager.csproj), so <c>sharpvisor serve</c> works from any directory and as a single published file.
/// Each file is mapped by its exact path; they need no token (the API calls they make do).
/// </summary>
public static class UiEndpoints
{
    /// <summary>
    /// Scripts only from this origin (no inline script, no eval). Styles also allow inline ones because xterm.js sizes
    /// its character grid with a &lt;style&gt; element it writes at run time; connect-src 'self' covers the console's ws://.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; " +
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    // URL path -> content type; the embedded resource is named "ui/" + the file name (LogicalName in the .csproj).
    private static readonly FrozenDictionary<string, string> Files = new Dictionary<string, string>
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["app.css"] = "text/css; charset=utf-8",
        ["app.js"] = "text/javascript; charset=utf-8",
        ["api.js"] = "text/javascript; charset=utf-8",
        ["charts.js"] = "text/javascript; charset=utf-8",
        ["console.js"] = "text/javascript; charset=utf-8",
        ["display.js"] = "text/javascript; charset=utf-8",
        ["create-dialog.js"] = "text/javascript; charset=utf-8",
        ["dashboard.js"] = "text/javascript; charset=utf-8",
        ["migrate-dialog.js"] = "text/javascript; charset=utf-8",
        ["clone-dialog.js"] = "text/javascript; charset=utf-8",
        ["events.js"] = "text/javascript; charset=utf-8",
        ["format.js"] = "text/javascript; charset=utf-8",
        ["live.js"] = "text/javascript; charset=utf-8",
        ["nav.js"] = "text/javascript; charset=utf-8",
        ["shortcuts.js"] = "text/javascript; charset=utf-8",
        ["storage.js"] = "text/javascript; charset=utf-8",
        ["theme.js"] = "text/javascript; charset=utf-8",
        ["theme-early.js"] = "text/javascript; charset=utf-8",
        ["vm-actions.js"] = "text/javascript; charset=utf-8",
        ["vm-form.js"] = "text/javascript; charset=utf-8",
        ["vm-list.js"] = "text/javascript; charset=utf-8",
        ["vm-page.js"] = "text/javascript; charset=utf-8",
        ["vm-state.js"] = "text/javascript; charset=utf-8",
        ["xterm.js"] = "text/javascript; charset=utf-8",
        ["xterm.css"] = "text/css; charset=utf-8",
        ["addon-fit.js"] = "text/javascript; charset=utf-8",
        ["uPlot.iife.min.js"] = "text/javascript; charset=utf-8",
        ["uPlot.min.css"] = "text/css; charset=utf-8",
        ["novnc.js"] = "text/javascript; charset=utf-8",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    public static IEndpointRouteBuilder MapUi(this IEndpointRouteBuilder endpoints)
    {
        foreach (var (file, contentType) in Files)
        {
            var content = Read(file);
            // A RequestDelegate, not a Delegate: nothing to bind, so no reflection and no generated code.
            RequestDelegate handler = context => Serve(context, content, contentType);
            // HEAD too (link checkers, curl -I): Kestrel sends the headers and drops the body.
            endpoints.MapMethods("/" + file, GetAndHead, handler).ExcludeFromDescription();
            if (file == "index.html")
            {
                endpoints.MapMethods("/", GetAndHead, handler).ExcludeFromDescription();
            }
        }

        return endpoints;
    }

    /// <summary>The embedded file's bytes; a file missing from the assembly is a build error, reported at start.</summary>
    internal static byte[] Read(string file)
    {
        using var stream = typeof(UiEndpoints).Assembly.GetManifestResourceStream("ui/" + file)
            ?? throw new InvalidOperationException($"the UI file {file} is not embedded in {typeof(UiEndpoints).Assembly.GetName().Name}: rebuild it");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static Task Serve(HttpContext context, byte[] content, string contentType)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Small files, revalidated on every load so a new daemon's UI is never mixed with an old cached script.
        headers.CacheControl = "no-cache";
        context.Response.ContentType = contentType;
        context.Response.ContentLength = content.Length;
        return context.Response.Body.WriteAsync(content, context.RequestAborted).AsTask();
    }
}
