using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Interop;

/// <summary>libc's process-image call, for commands that hand over to a sibling executable.</summary>
internal static unsafe partial class Libc
{
    [LibraryImport(Lib, EntryPoint = "execv", SetLastError = true)]
    public static partial int execv(byte* path, byte** argv);
}
