using System.Net.Security;
using System.Security.Cryptography;

namespace Sharpvisor.Api;

/// <summary>
/// The check a client of a daemon with a self-signed certificate makes: the certificate's SHA-256 must be the pinned
/// one (hex, with or without ':'). The CLI and a manager talking to another manager use the same one.
/// </summary>
public static class CertificatePin
{
    /// <summary>The pin check for HTTPS and WebSockets alike; null when nothing is pinned (the usual chain check applies).</summary>
    public static RemoteCertificateValidationCallback? Validator(string? fingerprint)
    {
        if (fingerprint is null)
        {
            return null;
        }

        var pinned = fingerprint.Replace(":", "", StringComparison.Ordinal);
        return (_, certificate, _, _) => certificate is not null
            && string.Equals(certificate.GetCertHashString(HashAlgorithmName.SHA256), pinned, StringComparison.OrdinalIgnoreCase);
    }
}
