namespace Sharpvisor.Manager.Supervisor;

/// <summary>The VMM's log file: its length at a run's start, and its size cap.</summary>
public sealed partial class VmSupervisor
{
    private void KeepLogUnderCap(VmRun run)
    {
        if (VmLogFile.TrimIfOver(run.LogPath, _options.LogMaxBytes))
        {
            run.LogOffset = 0;
        }
    }

    private static long LogLength(string path)
    {
        try
        {
            return new FileInfo(path).Exists ? new FileInfo(path).Length : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
