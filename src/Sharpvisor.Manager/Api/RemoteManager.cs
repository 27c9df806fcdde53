using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.WebSockets;
using Sharpvisor.Api;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// Another manager's API, as a migration's source talks to it: define the VM there, open the WebSocket that carries
/// the migration stream to its VMM, and remove the definition again when the migration fails. HTTPS certificates are
/// checked as usual, or against a pinned SHA-256 fingerprint (a manager's self-signed certificate).
/// </summary>
internal sealed class RemoteManager : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);

    private readonly Uri _base;
    private readonly string? _token;
    private readonly RemoteCertificateValidationCallback? _validate;
    private readonly HttpClient _http;

    public RemoteManager(Uri baseUrl, string? token, string? fingerprint)
    {
        _base = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        _token = token;
        _validate = CertificatePin.Validator(fingerprint);

        var handler = new SocketsHttpHandler();
        if (_validate is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = _validate;
        }

        _http = new HttpClient(handler) { BaseAddress = _base, Timeout = RequestTimeout };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }
    }

    public Uri BaseUrl => _base;

    /// <summary>Defines the VM there; a name it already has is a conflict, anything else it refuses a failed migration.</summary>
    public async Task CreateAsync(VmSpec spec, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.PostAsJsonAsync("api/v1/vms", spec, ApiJsonContext.Default.VmSpec, cancellationToken)).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new MigrationFailedException($"the destination already has a VM named '{spec.Name}'");
        }

        await EnsureSuccessAsync(response, "define the VM", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the VM's definition there, if it does not run: what a failed migration leaves behind. Best effort.</summary>
    public async Task TryDeleteAsync(string name)
    {
        // A failed migration's incoming VMM may still be on its way out when the source gives up: the destination
        // refuses the delete (409) until it has stopped, so ask again for a while. A destination whose guest runs
        // (a hand-over that failed after GO) refuses it all along and keeps the VM: deleting never stops a guest.
        var path = $"api/v1/vms/{Uri.EscapeDataString(name)}";
        var deadline = DateTime.UtcNow + DeleteRetryLimit;
        try
        {
            while (true)
            {
                using var response = await _http.DeleteAsync(path).ConfigureAwait(false);
                if (response.StatusCode != System.Net.HttpStatusCode.Conflict || DateTime.UtcNow >= deadline)
                {
                    return;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // The destination is gone: it has nothing to clean up, or will find a stopped VM.
        }
    }

    // How long a failed migration waits for the destination's incoming VMM to stop so its definition can go.
    private static readonly TimeSpan DeleteRetryLimit = TimeSpan.FromSeconds(30);

    /// <summary>The WebSocket to the destination's incoming migration (its VMM starts when this connects).</summary>
    public async Task<WebSocket> ConnectIncomingAsync(string name, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        try
        {
            if (_token is not null)
            {
                socket.Options.SetRequestHeader("Authorization", "Bearer " + _token);
            }

            if (_validate is not null)
            {
                socket.Options.RemoteCertificateValidationCallback = _validate;
            }

            var url = new UriBuilder(new Uri(_base, $"api/v1/vms/{Uri.EscapeDataString(name)}/incoming"));
            url.Scheme = url.Scheme == "https" ? "wss" : "ws";
            await socket.ConnectAsync(url.Uri, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException)
        {
            socket.Dispose();
            throw new MigrationFailedException($"the destination did not take the migration stream: {e.Message}");
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<HttpResponseMessage> SendAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send().ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new MigrationFailedException($"the destination manager at {_base} cannot be reached: {e.Message}");
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var detail = body.Length <= 300 ? body : body[..300] + "...";
        throw new MigrationFailedException($"the destination refused to {what}: {(int)response.StatusCode} {detail.ReplaceLineEndings(" ")}");
    }
}
