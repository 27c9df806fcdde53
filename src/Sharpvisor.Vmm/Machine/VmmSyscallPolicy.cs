using Sharpvisor.Kvm.Sandbox;

namespace Sharpvisor.Vmm.Machine;

/// <summary>
/// The system calls a running VMM makes, as measured with <c>strace -f -c</c> over the guests, devices, control and
/// console sockets, pause, reboot-restart and exit (docs/security.md), plus the .NET runtime's own (threads, GC,
/// JIT, timers). Installed once the machine is built (<see cref="Install"/>), so what only start-up needs (execve,
/// mknodat for the debugger pipes) is not on it. Not on it, by design: exec, fork, ptrace, mount, unshare, setns,
/// chroot, pivot_root, module loading, keyrings, bpf, perf, process_vm_*, uid/gid changes, sockets other than
/// AF_UNIX, namespace flags on clone: what a guest that took over the VMM would reach for first.
/// </summary>
public static class VmmSyscallPolicy
{
    /// <summary>x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl), by name for review.</summary>
    public static IReadOnlyDictionary<string, uint> Allowed { get; } = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        // I/O on descriptors: guest disks, TAPs, eventfds, sockets, /proc, log and exit files.
        ["read"] = 0, ["write"] = 1, ["open"] = 2, ["close"] = 3, ["stat"] = 4, ["fstat"] = 5, ["lstat"] = 6, ["poll"] = 7,
        ["lseek"] = 8, ["pread64"] = 17, ["pwrite64"] = 18, ["readv"] = 19, ["writev"] = 20, ["access"] = 21, ["pipe"] = 22,
        ["select"] = 23, ["dup"] = 32, ["dup2"] = 33, ["fcntl"] = 72, ["flock"] = 73, ["fsync"] = 74, ["fdatasync"] = 75,
        ["ftruncate"] = 77, ["getdents"] = 78, ["getcwd"] = 79, ["rename"] = 82, ["unlink"] = 87, ["readlink"] = 89,
        ["chmod"] = 90, ["fchmod"] = 91, ["umask"] = 95, ["statfs"] = 137, ["fstatfs"] = 138, ["getdents64"] = 217,
        ["fadvise64"] = 221, ["openat"] = 257, ["newfstatat"] = 262, ["unlinkat"] = 263, ["readlinkat"] = 267,
        ["faccessat"] = 269, ["pselect6"] = 270, ["ppoll"] = 271, ["fallocate"] = 285, ["dup3"] = 292, ["pipe2"] = 293,
        ["preadv"] = 295, ["pwritev"] = 296, ["renameat2"] = 316, ["statx"] = 332, ["close_range"] = 436, ["faccessat2"] = 439,
        ["ioctl"] = 16, // only KVM's and 'T' (TUN, terminals) requests: see IoctlTypes
        ["eventfd"] = 284, ["eventfd2"] = 290, ["timerfd_create"] = 283, ["timerfd_settime"] = 286, ["timerfd_gettime"] = 287,
        ["epoll_wait"] = 232, ["epoll_ctl"] = 233, ["epoll_pwait"] = 281, ["epoll_create1"] = 291, ["epoll_pwait2"] = 441,

        // Unix sockets (socket itself is allowed for AF_UNIX only by the filter).
        // No connect: a VMM only listens (its control and console sockets), so a VMM taken over cannot reach the
        // manager's or anyone's unix sockets, abstract ones included (it fails, see Refused).
        ["accept"] = 43, ["sendto"] = 44, ["recvfrom"] = 45, ["sendmsg"] = 46, ["recvmsg"] = 47,
        ["shutdown"] = 48, ["bind"] = 49, ["listen"] = 50, ["getsockname"] = 51, ["getpeername"] = 52,
        ["setsockopt"] = 54, ["getsockopt"] = 55, ["accept4"] = 288,

        // Memory: guest RAM, kvm_run pages, the GC and the JIT.
        ["mmap"] = 9, ["mprotect"] = 10, ["munmap"] = 11, ["brk"] = 12, ["mremap"] = 25, ["msync"] = 26, ["mincore"] = 27,
        ["madvise"] = 28, ["membarrier"] = 324, ["memfd_create"] = 319, ["get_mempolicy"] = 239,

        // Threads, signals (vCPU kicks are tgkill), scheduling, time.
        ["rt_sigaction"] = 13, ["rt_sigprocmask"] = 14, ["rt_sigreturn"] = 15, ["sched_yield"] = 24, ["nanosleep"] = 35,
        ["getpid"] = 39, ["exit"] = 60, ["kill"] = 62, ["uname"] = 63, ["gettimeofday"] = 96, ["getrlimit"] = 97,
        ["getrusage"] = 98, ["sysinfo"] = 99, ["times"] = 100, ["getuid"] = 102, ["getgid"] = 104, ["geteuid"] = 107,
        ["getegid"] = 108, ["getppid"] = 110, ["getpgrp"] = 111, ["getsid"] = 124, ["sigaltstack"] = 131,
        ["sched_setparam"] = 142, ["sched_getparam"] = 143, ["sched_setscheduler"] = 144, ["sched_getscheduler"] = 145,
        ["sched_get_priority_max"] = 146, ["sched_get_priority_min"] = 147, ["prctl"] = 157, ["arch_prctl"] = 158,
        ["gettid"] = 186, ["futex"] = 202, ["sched_setaffinity"] = 203, ["sched_getaffinity"] = 204,
        ["set_tid_address"] = 218, ["restart_syscall"] = 219, ["clock_gettime"] = 228, ["clock_getres"] = 229,
        ["clock_nanosleep"] = 230, ["exit_group"] = 231, ["tgkill"] = 234, ["set_robust_list"] = 273,
        ["get_robust_list"] = 274, ["prlimit64"] = 302, ["getcpu"] = 309, ["getrandom"] = 318, ["rseq"] = 334,
        ["sched_getattr"] = 315,

        // Filtered by argument in SeccompFilter: threads only, AF_UNIX only; clone3 answers ENOSYS.
        ["clone"] = 56, ["socket"] = 41,
    };

    /// <summary>
    /// Calls that fail with EPERM rather than kill: connect, which .NET makes on its own when a socket is disposed
    /// while another thread's call still holds it (Socket.Dispose aborts a stream socket with connect(AF_UNSPEC),
    /// SafeSocketHandle.TryUnblockSocket), so a control or console client closing at the wrong moment killed the VMM
    /// (SIGSYS). Failing that call costs nothing (the close goes on), and a VMM taken over still reaches no socket.
    /// </summary>
    public static IReadOnlyDictionary<string, uint> Refused { get; } = new Dictionary<string, uint>(StringComparer.Ordinal)
    {
        ["connect"] = 42,
    };

    /// <summary>The ioctl request types a VMM sends: 0xAE (KVM) and 'T' (TUNSETIFF and the terminal's TCGETS/TCSETS, FIONBIO).</summary>
    public static IReadOnlyList<byte> IoctlTypes { get; } = [0xAE, (byte)'T'];

    /// <summary>The filter for this process: signals only to itself.</summary>
    public static SeccompFilter Filter(SeccompMode mode) => SeccompFilter.Build(Allowed.Values, mode, signalsOnlyTo: Environment.ProcessId, ioctlTypes: IoctlTypes, refused: Refused.Values);

    /// <summary>Confines this process from here on; a no-op for <see cref="SeccompMode.Off"/>.</summary>
    public static void Install(SeccompMode mode)
    {
        if (mode != SeccompMode.Off)
        {
            // Not dumpable: another process of the same uid (another VMM) cannot open this one's /proc/PID/root, fd,
            // mem or environ; only a holder of CAP_SYS_PTRACE (the root manager) can.
            ProcessGuard.MakeUndumpable();
            Filter(mode).Install();
        }
    }
}
