using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Ui.Tests;

/// <summary>The VMMs a test's daemon leaves behind: VMs outlive a daemon that stops, and a failed test may leave some running.</summary>
internal static class StrayVmms
{
    /// <summary>
    /// Kills each VMM listening on a control socket below <paramref name="directory"/> (none if it does not exist),
    /// checking its start time so that a recycled process id is never killed.
    /// </summary>
    public static void Kill(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var socket in Directory.EnumerateFiles(directory, "*.sock", SearchOption.AllDirectories))
        {
            foreach (var pid in ProcessProbe.FindByControlSocket(socket))
            {
                if (ProcessProbe.StartTime(pid) is { } start)
                {
                    ProcessProbe.Kill(pid, start);
                }
            }
        }
    }
}
