namespace Sharpvisor.Manager.Supervisor;

/// <summary>
/// A VMM's log (RUNDIR/ID.log, its stdout and stderr opened O_APPEND by the shell that execs it) kept under a size
/// cap: the VMM already rate-limits what a guest can make it log, this is the cap behind that. Over the cap, the
/// file is copied to ID.log.1 (the one older generation, replaced) and truncated in place, logrotate's
/// copytruncate: the VMM keeps its descriptor and, appending, writes from the new end. Lines written between the
/// copy and the truncation are lost, which a log that size can afford.
/// </summary>
public static class VmLogFile
{
    /// <summary>The default cap: far above what a healthy VMM writes in its life.</summary>
    public const long DefaultMaxBytes = 4L << 20;

    public static string OlderGeneration(string path) => path + ".1";

    /// <summary>Rotates <paramref name="path"/> when it is over <paramref name="maxBytes"/>; true when it did.</summary>
    public static bool TrimIfOver(string path, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length <= maxBytes)
            {
                return false;
            }

            File.Copy(path, OlderGeneration(path), overwrite: true);
            using var log = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            log.SetLength(0);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // a log that cannot be rotated now is tried again at the next check
        }
    }
}
