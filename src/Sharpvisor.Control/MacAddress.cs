namespace Sharpvisor.Control;

/// <summary>A NIC's hardware address as the command line and the API spell it.</summary>
public static class MacAddress
{
    /// <summary>
    /// Parses "xx:xx:xx:xx:xx:xx" (six two-digit hex bytes); null when malformed or multicast, which is no NIC's
    /// address. The one rule for a MAC, whether it comes from the command line or the manager's API.
    /// </summary>
    public static byte[]? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length != 6)
        {
            return null;
        }

        var mac = new byte[6];
        for (var i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out mac[i]))
            {
                return null;
            }
        }

        return (mac[0] & 1) == 0 ? mac : null;
    }
}
