using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Control;

/// <summary>The MAC a NIC gets when its definition names none: one per TAP name, the same in every process that asks.</summary>
public static class NicAddresses
{
    /// <summary>A stable, locally administered unicast MAC per TAP name: 02:73:76 ("sv") then three hash bytes.</summary>
    public static byte[] DefaultMac(string tapName)
    {
        ArgumentNullException.ThrowIfNull(tapName);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(tapName));
        return [0x02, 0x73, 0x76, hash[0], hash[1], hash[2]];
    }

    /// <summary>As definitions write it: six lowercase hex pairs joined by ':'.</summary>
    public static string Format(ReadOnlySpan<byte> mac) => string.Join(':', mac.ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
}
