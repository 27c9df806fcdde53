using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Sharpvisor.Cli.Remote;

/// <summary>
/// The CLI's side of the REST API (docs/api.md): bearer token on every request, errors turned into
/// <see cref="ApiException"/> or <see cref="DaemonUnreachableException"/>. Answers come back both parsed and as the
/// daemon's own text, so <c>--json</c> prints exactly what the API said.
/// </summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    public ApiClient(DaemonEndpoint endpoint)
    {
        Endpoint = endpoint;
        // Actions wait for the VM (a stop may take its timeout, up to 300 s, then a kill); the event stream has no end.
        _http = new HttpClient(Handler(endpoint.Fingerprint)) { BaseAddress = endpoint.BaseUrl, Timeout = Timeout.InfiniteTimeSpan };
        if (endpoint.Token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.Token);
        }
    }

    public DaemonEndpoint Endpoint { get; }

    /// <summary>Without a pinned fingerprint, the usual chain check; with one, that fingerprint and nothing else (a CA-signed impostor does not pass).</summary>
    internal static HttpMessageHandler Handler(string? fingerprint)
    {
        var handler = new SocketsHttpHandler();
        if (Api.CertificatePin.Validator(fingerprint) is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }

        return handler;
    }

    /// <summary>"api/v1/vms/NAME" with the id or name escaped, so a name with '/' or '?' cannot change the path.</summary>
    public static string VmPath(string vm, string? tail = null) =>
        $"api/v1/vms/{Uri.EscapeDataString(vm)}{(tail is null ? "" : "/" + tail)}";

    public async Task<ApiAnswer<T>> SendAsync<T>(HttpMethod method, string path, JsonTypeInfo<T> answerType, HttpContent? body = null)
    {
        var text = await SendAsync(method, path, body).ConfigureAwait(false);
        try
        {
            var value = JsonSerializer.Deserialize(text, answerType)
                ?? throw new ApiException(500, [$"the daemon answered {method} {path} with null"]);
            return new ApiAnswer<T>(value, text);
        }
        catch (JsonException e)
        {
            throw new ApiException(500, [$"the daemon's answer to {method} {path} is not the expected JSON: {e.Message}"]);
        }
    }

    /// <summary>Sends the request and returns the answer's text; any status other than 2xx throws.</summary>
    public async Task<string> SendAsync(HttpMethod method, string path, HttpContent? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body };
        using var response = await SendRequestAsync(request, HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        return response.IsSuccessStatusCode ? text : throw new ApiException((int)response.StatusCode, ProblemLines.From(response.StatusCode, text));
    }

    /// <summary>A GET whose answer is bytes (a screenshot); any status other than 2xx throws.</summary>
    public async Task<byte[]> GetBytesAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRequestAsync(request, HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new ApiException((int)response.StatusCode, ProblemLines.From(response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false)));
        }

        return await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Streams a GET's answer into a new file at <paramref name="file"/> (removed again if the transfer fails),
    /// reporting bytes written against the answer's length; the bytes written. Any status other than 2xx throws.
    /// </summary>
    public async Task<long> DownloadAsync(string path, string file, Action<ulong, ulong> progress)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRequestAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new ApiException((int)response.StatusCode, ProblemLines.From(response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false)));
        }

        var total = (ulong)(response.Content.Headers.ContentLength ?? 0);
        var buffer = new byte[1 << 20];
        long written = 0;
        try
        {
            await using var source = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            await using var target = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
            for (int read; (read = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0;)
            {
                await target.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                written += read;
                progress((ulong)written, total);
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            File.Delete(file);
            throw Unreachable($"the download broke off after {written} bytes: {Innermost(e).Message}");
        }

        return written;
    }

    /// <summary>Opens a streamed answer (the event stream); the caller reads and disposes it.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var response = await SendRequestAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ApiException((int)response.StatusCode, ProblemLines.From(response.StatusCode, text));
        }
    }

    public static StringContent Json<T>(T value, JsonTypeInfo<T> type) =>
        new(JsonSerializer.Serialize(value, type), Encoding.UTF8, "application/json");

    public void Dispose() => _http.Dispose();

    public DaemonUnreachableException Unreachable(string reason) =>
        new($"cannot reach the daemon at {Endpoint.BaseUrl.AbsoluteUri.TrimEnd('/')}: {reason} (is `sharpvisor serve` running?)");

    private async Task<HttpResponseMessage> SendRequestAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken = default)
    {
        try
        {
            return await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(Innermost(e).Message);
        }
    }

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}

/// <summary>An answer: parsed, and the daemon's JSON text unchanged (for <c>--json</c>).</summary>
internal sealed record ApiAnswer<T>(T Value, string Json);
