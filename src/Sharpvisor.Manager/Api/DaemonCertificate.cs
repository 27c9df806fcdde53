using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// The certificate the daemon serves HTTPS with when it listens beyond loopback: the one the configuration names
/// (PEM certificate and key), else one it made itself at its first such start (ECDSA P-256, self-signed, kept as
/// DATA/tls/cert.pem and key.pem, mode 0600) and reuses. A self-signed certificate is trusted by pinning its
/// SHA-256 fingerprint, which the daemon prints at start and writes into serve.json for the CLI.
/// </summary>
public static class DaemonCertificate
{
    public const string DirectoryName = "tls";

    /// <summary>Loads the configured pair, or the data directory's own (made when missing).</summary>
    public static X509Certificate2 Load(ManagerOptions options, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TlsCertificatePath is { } certificate)
        {
            return FromPem(certificate, options.TlsKeyPath ?? certificate);
        }

        var directory = Path.Combine(dataDirectory, DirectoryName);
        var certificatePath = Path.Combine(directory, "cert.pem");
        var keyPath = Path.Combine(directory, "key.pem");
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var made = MakeSelfSigned(options.Listen.Address);
            WritePrivate(keyPath, made.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            WritePrivate(certificatePath, made.ExportCertificatePem());
        }

        return FromPem(certificatePath, keyPath);
    }

    /// <summary>The SHA-256 of the certificate's DER form, as colon-separated upper-case hex (what browsers show).</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)).Chunk(2).Aggregate("", (text, pair) => text.Length == 0 ? new string(pair) : text + ":" + new string(pair));
    }

    private static X509Certificate2 FromPem(string certificatePath, string keyPath)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // Kestrel on Linux wants a certificate whose key it can use directly: a round trip through PKCS#12 gives one.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new IOException($"cannot load the TLS certificate {certificatePath} (key {keyPath}): {e.Message}", e);
        }
    }

    private static X509Certificate2 MakeSelfSigned(IPAddress listen)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=sharpvisor {Dns.GetHostName()}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName(Dns.GetHostName());
        names.AddIpAddress(IPAddress.Loopback);
        if (!listen.Equals(IPAddress.Any) && !listen.Equals(IPAddress.IPv6Any))
        {
            names.AddIpAddress(listen);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(5));
    }

    private static void WritePrivate(string path, string text)
    {
        using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        using var writer = new StreamWriter(file);
        writer.Write(text);
    }
}
