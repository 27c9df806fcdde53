using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Cli.Remote;

/// <summary>
/// Where the daemon listens and the token it wants. Each comes from its flag (<c>--server</c>, <c>--token</c>), else
/// its environment variable (SHARPVISOR_URL, SHARPVISOR_TOKEN), else the data directory the daemon writes
/// (DATA/serve.json and DATA/token; the directory from <c>--data-dir</c> or the daemon's own default).
/// </summary>
internal sealed record DaemonEndpoint(Uri BaseUrl, string? Token)
{
    public const string UrlVariable = "SHARPVISOR_URL";
    public const string TokenVariable = "SHARPVISOR_TOKEN";
    public const string FingerprintVariable = "SHARPVISOR_FINGERPRINT";

    /// <summary>
    /// The SHA-256 fingerprint the daemon's HTTPS certificate must have when the usual chain check fails (a self-signed
    /// certificate): $SHARPVISOR_FINGERPRINT, else the one in serve.json when the URL came from it.
    /// </summary>
    public string? Fingerprint { get; init; }

    /// <summary>The flags win over the environment, which wins over the data directory; <paramref name="lookupEnvironment"/> reads a variable (tests pass their own).</summary>
    public static DaemonEndpoint Resolve(string? server, string? token, string? dataDirectory, Func<string, string?> lookupEnvironment)
    {
        // Resolved lazily: a --server and --token pair never touches the data directory.
        var dataDir = new Lazy<string>(() => dataDirectory ?? DaemonLocations.DefaultDataDirectory());
        var given = NonEmpty(server, "--server") ?? NonEmptyVariable(lookupEnvironment, UrlVariable);
        var info = given is null ? ReadServeInfo(dataDir.Value) : null;
        var url = given ?? info!.Url;
        var tokenValue = NonEmpty(token, "--token") ?? NonEmptyVariable(lookupEnvironment, TokenVariable) ?? ReadToken(dataDir.Value);
        return new DaemonEndpoint(ParseUrl(url), tokenValue) { Fingerprint = NonEmptyVariable(lookupEnvironment, FingerprintVariable) ?? info?.Fingerprint };
    }

    internal static Uri ParseUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            throw new UsageException($"'{text}' is not a daemon URL like http://127.0.0.1:7780");
        }

        // A trailing slash makes relative paths ("api/v1/vms") land under any base path the URL has.
        return uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }

    private static string? NonEmpty(string? value, string option) =>
        value is { Length: 0 } ? throw new UsageException($"{option} must not be empty") : value;

    private static string? NonEmptyVariable(Func<string, string?> lookupEnvironment, string name) =>
        lookupEnvironment(name) is { Length: > 0 } value ? value : null;

    private static ServeInfo ReadServeInfo(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, DaemonLocations.ServeInfoFileName);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DaemonUnreachableException(
                $"no daemon address: no --server, no ${UrlVariable} and no {path} (is `sharpvisor serve` running?)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DaemonUnreachableException($"cannot read {path}: {e.Message}");
        }

        try
        {
            return JsonSerializer.Deserialize(text, ApiJsonContext.Default.ServeInfo) is { Url.Length: > 0 } info
                ? info
                : throw new DaemonUnreachableException($"{path} names no url");
        }
        catch (JsonException)
        {
            throw new DaemonUnreachableException($"{path} is not the JSON a daemon writes ({{\"url\":...}})");
        }
    }

    /// <summary>DATA/token, or null when there is none (the daemon then answers 401, which says what is wrong).</summary>
    private static string? ReadToken(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, DaemonLocations.TokenFileName);
        try
        {
            return File.ReadAllText(path).Trim() is { Length: > 0 } token ? token : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DaemonUnreachableException($"cannot read the token {path}: {e.Message}");
        }
    }
}
