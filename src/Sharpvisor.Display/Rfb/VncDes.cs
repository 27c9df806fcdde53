using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Display.Rfb;

/// <summary>
/// The DES step of VNC authentication (RFC 6143 7.2.2): the password's first 8 bytes, zero-padded, with each byte's
/// bits reversed (VNC takes the lowest bit as DES's first), encrypt the 16-byte challenge in ECB mode.
/// </summary>
internal static class VncDes
{
    public const int KeySize = 8;
    public const int ChallengeSize = 16;

    /// <summary>The DES key for <paramref name="password"/>, or why it cannot be one.</summary>
    public static byte[] KeyFor(string password, string what)
    {
        if (password.Length == 0 || password.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"a VNC {what} is 1 or more characters, none of them NUL", nameof(password));
        }

        var bytes = Encoding.UTF8.GetBytes(password);
        var key = new byte[KeySize];
        for (var i = 0; i < Math.Min(bytes.Length, KeySize); i++)
        {
            key[i] = ReverseBits(bytes[i]);
        }

        // DES refuses its few weak keys; no typeable password maps to one, but say so rather than fail later.
        if (DES.IsWeakKey(key) || DES.IsSemiWeakKey(key))
        {
            throw new ArgumentException($"this VNC {what} makes a weak DES key; choose another", nameof(password));
        }

        return key;
    }

    public static byte[] Encrypt(byte[] key, ReadOnlySpan<byte> challenge)
    {
#pragma warning disable CA5351 // VNC authentication is defined with DES; the password's strength is all RFB offers.
        using var des = DES.Create();
#pragma warning restore CA5351
        des.Key = key;
        return des.EncryptEcb(challenge, PaddingMode.None);
    }

    public static byte ReverseBits(byte value)
    {
        var result = 0;
        for (var bit = 0; bit < 8; bit++)
        {
            result |= ((value >> bit) & 1) << (7 - bit);
        }

        return (byte)result;
    }
}
