using System.ComponentModel;
using System.Diagnostics;
using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Supervisor;

/// <summary>Starting a VMM process (through setsid and, where the host can, its jail) and killing one.</summary>
public sealed partial class VmSupervisor
{
    /// <summary>RUNDIR/ID.jail: the empty directory the VMM's jail root is mounted on, in its own namespace.</summary>
    public string JailPath(Guid id) => Path.Combine(_runDirectory, id.ToString("D") + ".jail");

    private VmmJail? JailFor(VmDefinition definition, Guid id, string? restoreFrom, bool incoming)
    {
        if (!_options.Confine || VmmJail.Unavailable is not null)
        {
            return null;
        }

        Directory.CreateDirectory(JailPath(id), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return VmmJail.For(definition, JailPath(id), VmDirectory(id), _executable, _uids.Acquire(id), _options.KvmDevice ?? "/dev/kvm", restoreFrom, incoming);
    }

    private Process Spawn(IReadOnlyList<string> args, string logPath, VmmJail? jail)
    {
        // Through sh only to point the VMM's stdio at files before exec (same pid): no pipe to the manager, so the
        // VMM neither blocks nor dies on a full or broken pipe when the manager is gone.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        // And through setsid(1) (no fork: sh is not a group leader, so the pid stays): the VMM gets a session of its
        // own, so a Ctrl-C at the manager's terminal (SIGINT to its whole process group) does not reach the VMs.
        start.ArgumentList.Add("exec $SHARPVISOR_SETSID \"$0\" \"$@\" </dev/null >>\"$SHARPVISOR_VMM_LOG\" 2>&1");
        foreach (var arg in jail?.Command(_executable) ?? [_executable])
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in jail?.Environment() ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        start.Environment["SHARPVISOR_VMM_LOG"] = logPath;
        start.Environment["SHARPVISOR_SETSID"] = SetsidPath ?? "";
        foreach (var (name, value) in _options.VmmEnvironment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        return Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned no process");
    }

    /// <summary>util-linux setsid(1) where the host has it; without it the VMMs share the manager's session.</summary>
    private static readonly string? SetsidPath = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    private static void KillProcess(VmRun run)
    {
        if (run.Child is { } child)
        {
            try
            {
                child.Kill();
            }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception)
            {
                // Exited already.
            }
        }
        else
        {
            ProcessProbe.Kill(run.Pid, run.StartTime);
        }
    }
}
