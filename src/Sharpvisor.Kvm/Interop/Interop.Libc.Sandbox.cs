using System.Runtime.InteropServices;

namespace Sharpvisor.Kvm.Interop;

/// <summary>The calls that confine a process: no_new_privs, a seccomp filter.</summary>
internal static unsafe partial class Libc
{
    public const int PR_SET_NO_NEW_PRIVS = 38;
    public const long SYS_seccomp = 317;
    public const long SYS_ptrace = 101;
    public const long SYS_connect = 42;
    public const nuint SECCOMP_SET_MODE_FILTER = 1;
    public const nuint SECCOMP_FILTER_FLAG_TSYNC = 1;

    /// <summary>prctl(2) is variadic; every argument an integer register, as the x86-64 ABI passes them.</summary>
    [LibraryImport(Lib, EntryPoint = "prctl", SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>syscall(2), for seccomp(2), which glibc does not wrap.</summary>
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static partial long syscall(long number, nuint arg1, nuint arg2, nuint arg3);
}
