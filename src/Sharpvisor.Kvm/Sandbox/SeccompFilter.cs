using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm.Sandbox;

/// <summary>What the filter does with a system call outside the allow-list.</summary>
public enum SeccompMode
{
    /// <summary>No filter at all.</summary>
    Off,

    /// <summary>The kernel kills the whole process (SIGSYS): the default, as Firecracker does.</summary>
    Kill,

    /// <summary>The call goes through and the kernel logs it (audit): for finding what a new code path needs.</summary>
    Log,
}

/// <summary>
/// A classic-BPF seccomp program for x86-64: system calls on an allow-list pass, everything else kills the process (or
/// is logged). Two calls are allowed by their arguments: <c>clone</c> only for threads (no namespace flags, so a
/// compromised VMM cannot unshare itself out of its confinement), <c>socket</c> only for AF_UNIX; <c>clone3</c>, whose
/// flags sit behind a pointer a filter cannot read, fails with ENOSYS, and glibc then falls back to <c>clone</c>.
/// Calls given as <c>refused</c> fail with EPERM instead of killing: for calls a runtime makes on its own where
/// failing is harmless (see <c>VmmSyscallPolicy.Refused</c>).
/// <c>ioctl</c> is allowed for the request types given (<see cref="Build"/>'s <c>ioctlTypes</c>, the byte that says
/// which driver a request is for: 0xAE KVM, 'T' terminals and TUN), so the socket ioctls that reconfigure the host's
/// network interfaces (0x89) are out of reach even with CAP_NET_ADMIN.
/// Signals (<c>kill</c>, <c>tgkill</c>) go only to this process itself when the filter is built for it: a VMM kicks
/// its own vCPU threads, and must not signal the manager or another VM running as the same user.
/// Another architecture's calling convention (x32, i386) is refused outright.
/// </summary>
public sealed class SeccompFilter
{
    private const ushort LoadWordAbsolute = 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort JumpIfEqual = 0x15;      // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort JumpIfAtLeast = 0x35;    // BPF_JMP | BPF_JGE | BPF_K
    private const ushort JumpIfAnyBit = 0x45;     // BPF_JMP | BPF_JSET | BPF_K
    private const ushort Return = 0x06;           // BPF_RET | BPF_K
    private const ushort ShiftRight = 0x74;       // BPF_ALU | BPF_RSH | BPF_K
    private const ushort And = 0x54;              // BPF_ALU | BPF_AND | BPF_K

    private const uint ArchOffset = 4;            // struct seccomp_data: nr, arch, instruction_pointer, args[6]
    private const uint NumberOffset = 0;
    private const uint FirstArgumentLowOffset = 16;
    private const uint SecondArgumentLowOffset = 24;
    private const uint AuditArchX86_64 = 0xC000_003E;
    private const uint X32Bit = 0x4000_0000;

    private const uint RetKillProcess = 0x8000_0000;
    private const uint RetErrno = 0x0005_0000;
    private const uint RetLog = 0x7FFC_0000;
    private const uint RetAllow = 0x7FFF_0000;
    private const uint Enosys = 38;
    private const uint Eperm = 1;

    private const uint SysSocket = 41;
    private const uint SysClone = 56;
    private const uint SysClone3 = 435;
    private const uint SysKill = 62;
    private const uint SysTgkill = 234;
    private const uint SysIoctl = 16;
    private const uint AfUnix = 1;
    private const uint CloneThread = 0x0001_0000;
    private const uint CloneNamespaces = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x80;

    private readonly SockFilter[] _program;

    private SeccompFilter(SockFilter[] program) => _program = program;

    /// <summary>Instructions in the program (at most 4096, the kernel's limit).</summary>
    public int Length => _program.Length;

    /// <summary>
    /// Builds the program; <paramref name="allowed"/> are x86-64 system call numbers, <paramref name="refused"/> calls
    /// that fail with EPERM (none of them allowed or argument-checked).
    /// </summary>
    public static SeccompFilter Build(IEnumerable<uint> allowed, SeccompMode mode, int? signalsOnlyTo = null, IReadOnlyList<byte>? ioctlTypes = null,
        IEnumerable<uint>? refused = null)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        ArgumentOutOfRangeException.ThrowIfEqual(mode, SeccompMode.Off);
        var requested = allowed.ToHashSet();
        uint[] special = [SysSocket, SysClone, SysClone3, SysKill, SysTgkill, SysIoctl];
        var numbers = requested.Where(n => !special.Contains(n)).Order().ToArray();
        var failing = (refused ?? []).Distinct().Order().ToArray();
        if (failing.Where(n => requested.Contains(n) || special.Contains(n)).ToArray() is [var both, ..])
        {
            throw new ArgumentException($"call {both} cannot be both refused and allowed or argument-checked", nameof(refused));
        }
        var denied = mode == SeccompMode.Kill ? RetKillProcess : RetLog;
        var types = ioctlTypes ?? [];

        // Layout: header (4), six special cases, the list, the refused list, then the returns and the argument checks.
        const int header = 4, specials = 6;
        var list = header + specials;
        var refusedList = list + numbers.Length;
        var deny = refusedList + failing.Length;
        var enosys = deny + 1;
        var eperm = enosys + 1;
        var cloneCheck = eperm + 1;        // 3 instructions
        var socketCheck = cloneCheck + 3;  // 2 instructions
        var signalCheck = socketCheck + 2; // 2 instructions
        var ioctlCheck = signalCheck + 2;  // 3 + one per type
        var kill = ioctlCheck + 3 + types.Count;
        var allow = kill + 1;
        if (allow - 2 > 255)
        {
            throw new ArgumentException($"{numbers.Length + failing.Length} listed calls are too many for 8-bit jumps", nameof(allowed));
        }

        // A call the caller did not ask for goes to the deny return even when it has an argument check.
        int Special(uint number, int check) => requested.Contains(number) ? check : deny;
        var program = new List<SockFilter>(allow + 1)
        {
            new(LoadWordAbsolute, 0, 0, ArchOffset),
            Jump(JumpIfEqual, AuditArchX86_64, at: 1, whenTrue: 2, whenFalse: kill),
            new(LoadWordAbsolute, 0, 0, NumberOffset),
            Jump(JumpIfAtLeast, X32Bit, at: 3, whenTrue: kill, whenFalse: 4),
            Jump(JumpIfEqual, SysClone3, at: 4, whenTrue: requested.Contains(SysClone) ? enosys : deny, whenFalse: 5),
            Jump(JumpIfEqual, SysClone, at: 5, whenTrue: Special(SysClone, cloneCheck), whenFalse: 6),
            Jump(JumpIfEqual, SysSocket, at: 6, whenTrue: Special(SysSocket, socketCheck), whenFalse: 7),
            Jump(JumpIfEqual, SysKill, at: 7, whenTrue: Special(SysKill, signalsOnlyTo is null ? allow : signalCheck), whenFalse: 8),
            Jump(JumpIfEqual, SysTgkill, at: 8, whenTrue: Special(SysTgkill, signalsOnlyTo is null ? allow : signalCheck), whenFalse: 9),
            Jump(JumpIfEqual, SysIoctl, at: 9, whenTrue: Special(SysIoctl, ioctlTypes is null ? allow : ioctlCheck), whenFalse: 10),
        };
        for (var i = 0; i < numbers.Length; i++)
        {
            program.Add(Jump(JumpIfEqual, numbers[i], at: list + i, whenTrue: allow, whenFalse: list + i + 1));
        }

        for (var i = 0; i < failing.Length; i++)
        {
            program.Add(Jump(JumpIfEqual, failing[i], at: refusedList + i, whenTrue: eperm, whenFalse: refusedList + i + 1));
        }

        program.Add(new(Return, 0, 0, denied));
        program.Add(new(Return, 0, 0, RetErrno | Enosys));
        program.Add(new(Return, 0, 0, RetErrno | Eperm));
        program.Add(new(LoadWordAbsolute, 0, 0, FirstArgumentLowOffset));
        program.Add(Jump(JumpIfAnyBit, CloneNamespaces, at: cloneCheck + 1, whenTrue: kill, whenFalse: cloneCheck + 2));
        program.Add(Jump(JumpIfAnyBit, CloneThread, at: cloneCheck + 2, whenTrue: allow, whenFalse: kill));
        program.Add(new(LoadWordAbsolute, 0, 0, FirstArgumentLowOffset));
        program.Add(Jump(JumpIfEqual, AfUnix, at: socketCheck + 1, whenTrue: allow, whenFalse: kill));
        program.Add(new(LoadWordAbsolute, 0, 0, FirstArgumentLowOffset));
        program.Add(Jump(JumpIfEqual, (uint)(signalsOnlyTo ?? 0), at: signalCheck + 1, whenTrue: allow, whenFalse: kill));
        program.Add(new(LoadWordAbsolute, 0, 0, SecondArgumentLowOffset));
        program.Add(new(ShiftRight, 0, 0, 8));
        program.Add(new(And, 0, 0, 0xFF));
        for (var t = 0; t < types.Count; t++)
        {
            var at = ioctlCheck + 3 + t;
            program.Add(Jump(JumpIfEqual, types[t], at, whenTrue: allow, whenFalse: at + 1));
        }

        program.Add(new(Return, 0, 0, denied));
        program.Add(new(Return, 0, 0, RetAllow));
        return new SeccompFilter([.. program]);
    }

    /// <summary>
    /// Sets no_new_privs and installs the filter on every thread of the process (TSYNC): from here on it holds for
    /// the life of the process and every thread it starts. Throws when the kernel refuses.
    /// </summary>
    public unsafe void Install()
    {
        _ = Errno.Check(Libc.prctl(Libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
        fixed (SockFilter* filter = _program)
        {
            var program = new SockFprog { Length = (ushort)_program.Length, Filter = filter };
            var result = Libc.syscall(Libc.SYS_seccomp, Libc.SECCOMP_SET_MODE_FILTER, Libc.SECCOMP_FILTER_FLAG_TSYNC, (nuint)(&program));
            if (result < 0)
            {
                Errno.Throw("seccomp(SECCOMP_SET_MODE_FILTER)");
            }

            if (result > 0)
            {
                throw new KvmException($"seccomp: thread {result} could not take the filter", 0);
            }
        }
    }

    /// <summary>A call no VMM makes (ptrace(PTRACE_TRACEME)): under a killing filter the process dies here (SIGSYS).</summary>
    public static long MakeForbiddenCall() => Libc.syscall(Libc.SYS_ptrace, 0, 0, 0);

    /// <summary>connect(-1, NULL, 0): the errno it fails with (EPERM under a filter that refuses connect, else EBADF).</summary>
    public static int MakeConnectCall() => Libc.syscall(Libc.SYS_connect, nuint.MaxValue, 0, 0) < 0 ? Marshal.GetLastPInvokeError() : 0;

    /// <summary>Runs the program over one call the way the kernel would: what it returns (for tests).</summary>
    public uint Evaluate(uint number, uint arch = AuditArchX86_64, ulong firstArgument = 0, ulong secondArgument = 0)
    {
        uint accumulator = 0;
        var pc = 0;
        for (var steps = 0; steps <= _program.Length; steps++)
        {
            var op = _program[pc];
            switch (op.Code)
            {
                case LoadWordAbsolute:
                    accumulator = op.K switch
                    {
                        ArchOffset => arch,
                        NumberOffset => number,
                        FirstArgumentLowOffset => (uint)firstArgument,
                        SecondArgumentLowOffset => (uint)secondArgument,
                        _ => throw new InvalidOperationException($"load at {op.K}"),
                    };
                    pc++;
                    break;
                case Return:
                    return op.K;
                case ShiftRight:
                    accumulator >>= (int)op.K;
                    pc++;
                    break;
                case And:
                    accumulator &= op.K;
                    pc++;
                    break;
                default:
                    var taken = op.Code switch
                    {
                        JumpIfEqual => accumulator == op.K,
                        JumpIfAtLeast => accumulator >= op.K,
                        JumpIfAnyBit => (accumulator & op.K) != 0,
                        _ => throw new InvalidOperationException($"opcode {op.Code:x}"),
                    };
                    pc += 1 + (taken ? op.JumpTrue : op.JumpFalse);
                    break;
            }
        }

        throw new InvalidOperationException("the program did not return");
    }

    public static bool Allows(uint action) => action == RetAllow;

    private static SockFilter Jump(ushort code, uint value, int at, int whenTrue, int whenFalse) =>
        new(code, checked((byte)(whenTrue - at - 1)), checked((byte)(whenFalse - at - 1)), value);

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct SockFilter(ushort Code, byte JumpTrue, byte JumpFalse, uint K);

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }
}

/// <summary>Process attributes that confine it beside its seccomp filter.</summary>
public static class ProcessGuard
{
    private const int PR_SET_DUMPABLE = 4;

    /// <summary>prctl(PR_SET_DUMPABLE, 0): no core dumps (guest RAM stays out of them), /proc/PID/* owned by root, no ptrace by peers.</summary>
    public static void MakeUndumpable() => _ = Errno.Check(Libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)");
}
