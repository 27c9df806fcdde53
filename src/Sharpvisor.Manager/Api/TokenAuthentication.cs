using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Bearer-token check for <c>/api/...</c> and <c>/metrics</c>. The console and VNC WebSockets, the event stream and an
/// image's download also take <c>?access_token=</c>, since browsers cannot set headers on WebSocket and EventSource
/// requests or download links. The UI's files and
/// the OpenAPI document need no token. A refused request gets a 401 ProblemDetails before any handler runs.
/// </summary>
internal static class TokenAuthentication
{
    public const string QueryParameter = "access_token";

    /// <summary>The OpenAPI document's name for the token's security scheme (HTTP bearer).</summary>
    public const string SchemeName = "bearer";

    public static IApplicationBuilder UseTokenAuthentication(this IApplicationBuilder app) =>
        app.Use(static async (context, next) =>
        {
            var path = context.Request.Path;
            if (!path.StartsWithSegments("/api") && !path.StartsWithSegments("/metrics"))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            var token = context.RequestServices.GetRequiredService<ApiToken>();
            if (token.Matches(BearerToken(context.Request)) || (AcceptsQueryToken(path) && token.Matches(QueryToken(context.Request))))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiProblems.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized",
                "missing or wrong token: send 'Authorization: Bearer TOKEN' (the token is in the data directory's 'token' file)").ConfigureAwait(false);
        });

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        return header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? header[prefix.Length..].Trim() : null;
    }

    private static string? QueryToken(HttpRequest request) =>
        request.Query.TryGetValue(QueryParameter, out var values) && values.Count == 1 ? values[0] : null;

    // /api/v1/events, /api/v1/vms/{vm}/console, /api/v1/vms/{vm}/display/{head}/vnc and an image's download
    // (/api/v1/pools/{pool}/images/{name}/content, a browser's download link) only.
    private static bool AcceptsQueryToken(PathString path) =>
        path.Equals("/api/v1/events", StringComparison.Ordinal)
        || (path.StartsWithSegments("/api/v1/pools", StringComparison.Ordinal, out var pools)
            && pools.Value is { } download && download.EndsWith("/content", StringComparison.Ordinal) && download.Count(c => c == '/') == 4)
        || (path.StartsWithSegments("/api/v1/vms", StringComparison.Ordinal, out var rest)
            && rest.Value is { } tail
            && ((tail.EndsWith("/console", StringComparison.Ordinal) && tail.Count(c => c == '/') == 2)
                || (tail.EndsWith("/vnc", StringComparison.Ordinal) && tail.Count(c => c == '/') == 4)));
}
