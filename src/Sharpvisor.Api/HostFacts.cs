using System.Globalization;

namespace Sharpvisor.Api;

/// <summary>What the host has left for VMs: memory from /proc/meminfo, space on the manager's file systems (the daemon and `host-info` report the same figures).</summary>
public static class HostFacts
{
    /// <summary>A /proc/meminfo field ("MemTotal", "MemAvailable") in MiB; 0 when it cannot be read.</summary>
    public static long MemInfoMiB(string field, string path = "/proc/meminfo")
    {
        try
        {
            var prefix = field + ":";
            foreach (var line in File.ReadLines(path))
            {
                // "MemTotal:       16318412 kB"
                if (line.StartsWith(prefix, StringComparison.Ordinal)
                    && long.TryParse(line[prefix.Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                {
                    return kib / 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return 0;
    }

    /// <summary>The free and total bytes of the file system holding <paramref name="directory"/>; 0 when unknown.</summary>
    public static StorageRootResource StorageRoot(string directory)
    {
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(directory));
            return new StorageRootResource(directory, drive.AvailableFreeSpace, drive.TotalSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return new StorageRootResource(directory, 0, 0);
        }
    }
}
