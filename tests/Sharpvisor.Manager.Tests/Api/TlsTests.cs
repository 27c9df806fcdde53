using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Sharpvisor.Api;
using Sharpvisor.Manager.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>A daemon listening beyond loopback serves HTTPS only, with a certificate a client can pin by fingerprint.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("svt-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private Task<ManagerDaemon> StartAsync(bool insecure = false) => ManagerDaemon.StartAsync(new ManagerOptions
    {
        DataDirectory = Path.Combine(_directory, "data"),
        Listen = new IPEndPoint(IPAddress.Any, 0),
        SharpvisorExecutable = TestDaemon.Executable,
        DefineDefaultVm = false,
        AllowInsecureHttp = insecure,
    });

    private static HttpClient Pinned(Uri url, string? fingerprint, string token)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && fingerprint is not null
            && string.Equals(certificate.GetCertHashString(HashAlgorithmName.SHA256), fingerprint.Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        var client = new HttpClient(handler) { BaseAddress = Loopback(url), Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(30)) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>The daemon's own URL names 0.0.0.0; a client connects to it over 127.0.0.1.</summary>
    private static Uri Loopback(Uri url) => new UriBuilder(url) { Host = "127.0.0.1" }.Uri;

    [Fact]
    public async Task BeyondLoopbackTheApiIsHttpsWithAPinnableSelfSignedCertificate()
    {
        string fingerprint;
        await using (var daemon = await StartAsync())
        {
            Assert.Equal("https", daemon.Url.Scheme);
            fingerprint = Assert.IsType<string>(daemon.CertificateFingerprint);
            Assert.Matches("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", fingerprint);
            var info = System.Text.Json.JsonSerializer.Deserialize(await File.ReadAllTextAsync(daemon.ServeInfoPath), ApiJsonContext.Default.ServeInfo)!;
            Assert.Equal(fingerprint, info.Fingerprint); // what the CLI pins

            using var pinned = Pinned(daemon.Url, fingerprint, daemon.Token.Value);
            Assert.NotNull(await pinned.GetFromJsonAsync("api/v1/vms", ApiJsonContext.Default.IReadOnlyListVmResource));

            // A client that does not pin this certificate is refused by TLS itself, and plain HTTP gets no API.
            using var unpinned = Pinned(daemon.Url, new string('0', 64), daemon.Token.Value);
            await Assert.ThrowsAsync<HttpRequestException>(() => unpinned.GetAsync("api/v1/vms"));
            using var plain = new HttpClient { BaseAddress = new UriBuilder(Loopback(daemon.Url)) { Scheme = "http" }.Uri, Timeout = TestTime.Ceiling(TimeSpan.FromSeconds(30)) };
            plain.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", daemon.Token.Value);
            // With the right token and all: the TLS port closes a plain HTTP request without an answer.
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("api/v1/vms"));
            Assert.IsType<HttpIOException>(refused.InnerException);
        }

        // The certificate is kept: a restart serves the same one, so a pinned fingerprint stays valid.
        await using var again = await StartAsync();
        Assert.Equal(fingerprint, again.CertificateFingerprint);
    }

    [Fact]
    public async Task PlainHttpBeyondLoopbackOnlyWhenForced()
    {
        await using var daemon = await StartAsync(insecure: true);
        Assert.Equal("http", daemon.Url.Scheme);
        Assert.Null(daemon.CertificateFingerprint);
    }
}
