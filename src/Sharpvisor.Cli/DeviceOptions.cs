using Sharpvisor.Control;
using Sharpvisor.Storage;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Cli;

/// <summary>Parses the device options of <c>run</c>: <c>--disk PATH[,readonly][,id=ID][,format=raw|qcow2]</c> and <c>--net tap=NAME[,mac=XX:..]</c>.</summary>
internal static class DeviceOptions
{
    public static DiskConfig ParseDisk(string spec)
    {
        var parts = spec.Split(',');
        if (parts[0].Length == 0)
        {
            throw new UsageException($"--disk '{spec}' needs a file path");
        }

        var readOnly = false;
        string? id = null;
        var format = DiskFormat.Raw;
        foreach (var part in parts[1..])
        {
            if (part is "readonly" or "ro" or "readonly=on")
            {
                readOnly = true;
            }
            else if (part.StartsWith("format=", StringComparison.Ordinal))
            {
                format = ImageFormat.FromName(part["format=".Length..])
                    ?? throw new UsageException($"--disk '{spec}': unknown format '{part["format=".Length..]}' (expected raw or qcow2)");
            }
            else if (part.StartsWith("id=", StringComparison.Ordinal) && part.Length > 3 && part.Length <= 23 && part[3..].All(c => c is >= ' ' and <= '~'))
            {
                id = part[3..];
            }
            else
            {
                throw new UsageException($"--disk '{spec}': unknown or invalid setting '{part}' (expected readonly, format=raw|qcow2 or id=ID of 1-20 printable ASCII characters)");
            }
        }

        return new DiskConfig(parts[0], readOnly, id, format);
    }

    public static NetConfig ParseNet(string spec)
    {
        string? tap = null;
        byte[]? mac = null;
        foreach (var part in spec.Split(','))
        {
            if (part.StartsWith("tap=", StringComparison.Ordinal))
            {
                tap = part[4..];
                try
                {
                    Kvm.Host.TapDevice.ValidateName(tap);
                }
                catch (ArgumentException)
                {
                    throw new UsageException($"--net '{spec}': '{tap}' is not a valid interface name (1-15 letters, digits, '-', '_', '.')");
                }
            }
            else if (part.StartsWith("mac=", StringComparison.Ordinal))
            {
                mac = MacAddress.Parse(part[4..]) ?? throw new UsageException($"--net '{spec}': mac '{part[4..]}' must be six hex bytes like 02:00:00:00:00:01, unicast");
            }
            else
            {
                throw new UsageException($"--net '{spec}': unknown setting '{part}' (expected tap=NAME[,mac=XX:XX:XX:XX:XX:XX])");
            }
        }

        return tap is null ? throw new UsageException($"--net '{spec}' needs tap=NAME") : new NetConfig(tap, mac);
    }
}
