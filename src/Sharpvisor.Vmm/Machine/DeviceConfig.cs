namespace Sharpvisor.Vmm.Machine;

/// <summary>A virtio-blk disk: a raw image file, optionally read-only; <paramref name="Id"/> is what GET_ID returns.</summary>
public sealed record DiskConfig(string Path, bool ReadOnly = false, string? Id = null);

/// <summary>A virtio-net interface on TAP device <paramref name="TapName"/>; a null MAC gets a generated locally administered one.</summary>
public sealed record NetConfig(string TapName, byte[]? Mac = null)
{
    /// <summary>
    /// Parses "xx:xx:xx:xx:xx:xx" (six two-digit hex bytes); null when malformed or multicast, which is no NIC's
    /// address. The one rule for a MAC, whether it comes from the command line or the manager's API.
    /// </summary>
    public static byte[]? ParseMac(string text)
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
