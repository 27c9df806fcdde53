using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Host;

/// <summary>
/// execv(2): this process becomes another program, keeping its pid, its terminal and its signals. Used by
/// <c>sharpvisor serve</c> to hand over to <c>sharpvisor-serve</c>, so the VMM's own executable carries no web stack.
/// </summary>
public static class ProcessImage
{
    /// <summary>Replaces this process with <paramref name="path"/>; returns only by throwing (e.g. the file is missing).</summary>
    public static unsafe void Replace(string path, IReadOnlyList<string> arguments)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(arguments);
        var strings = new nint[arguments.Count + 1];
        try
        {
            strings[0] = Marshal.StringToCoTaskMemUTF8(path);
            for (var i = 0; i < arguments.Count; i++)
            {
                strings[i + 1] = Marshal.StringToCoTaskMemUTF8(arguments[i]);
            }

            var argv = new nint[strings.Length + 1]; // argv[0] = path, then the arguments, then NULL
            strings.CopyTo(argv, 0);
            // SAFETY: every pointer is a NUL-terminated UTF-8 copy owned until the finally below, and argv ends with
            // NULL as execv requires; on success this process image (and so the arrays) is gone, never read again.
            fixed (nint* args = argv)
            {
                Libc.execv((byte*)strings[0], (byte**)args);
            }

            throw Errno.Create($"execv({path})", Marshal.GetLastPInvokeError());
        }
        finally
        {
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
        }
    }
}
