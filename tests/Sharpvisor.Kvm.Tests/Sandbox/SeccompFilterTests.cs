using Sharpvisor.Kvm.Sandbox;

namespace Sharpvisor.Kvm.Tests.Sandbox;

/// <summary>The VMM's seccomp program, run over calls the way the kernel runs it (the installed filter is tested end to end by the integration tests).</summary>
public sealed class SeccompFilterTests
{
    private const uint Kill = 0x8000_0000;
    private const uint Log = 0x7FFC_0000;
    private const uint Enosys = 0x0005_0000 | 38;
    private const uint Read = 0, Ptrace = 101, Mount = 165, Execve = 59, Clone = 56, Clone3 = 435, Socket = 41, Ioctl = 16;
    private const ulong ThreadFlags = 0x003D_0F00; // glibc's pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID

    private static readonly SeccompFilter Filter = SeccompFilter.Build([Read, Ioctl, Clone, Socket], SeccompMode.Kill);

    [Fact]
    public void AllowedCallsPassAndOthersKillTheProcess()
    {
        Assert.True(SeccompFilter.Allows(Filter.Evaluate(Read)));
        Assert.True(SeccompFilter.Allows(Filter.Evaluate(Ioctl)));
        Assert.Equal(Kill, Filter.Evaluate(Ptrace));
        Assert.Equal(Kill, Filter.Evaluate(Mount));
        Assert.Equal(Kill, Filter.Evaluate(Execve));
    }

    [Fact]
    public void CloneMakesThreadsButNeverNamespaces()
    {
        Assert.True(SeccompFilter.Allows(Filter.Evaluate(Clone, firstArgument: ThreadFlags)));
        Assert.Equal(Kill, Filter.Evaluate(Clone, firstArgument: ThreadFlags | 0x1000_0000)); // CLONE_NEWUSER
        Assert.Equal(Kill, Filter.Evaluate(Clone, firstArgument: ThreadFlags | 0x0002_0000)); // CLONE_NEWNS
        Assert.Equal(Kill, Filter.Evaluate(Clone, firstArgument: 0x11)); // fork: SIGCHLD, no CLONE_THREAD
        Assert.Equal(Enosys, Filter.Evaluate(Clone3)); // flags behind a pointer: glibc falls back to clone
    }

    [Fact]
    public void OnlyUnixSocketsAreMade()
    {
        Assert.True(SeccompFilter.Allows(Filter.Evaluate(Socket, firstArgument: 1)));
        Assert.Equal(Kill, Filter.Evaluate(Socket, firstArgument: 2)); // AF_INET
        Assert.Equal(Kill, Filter.Evaluate(Socket, firstArgument: 16)); // AF_NETLINK
    }

    [Fact]
    public void SignalsGoOnlyToTheProcessItself()
    {
        const uint SysKill = 62, SysTgkill = 234;
        var own = SeccompFilter.Build([Read, SysKill, SysTgkill], SeccompMode.Kill, signalsOnlyTo: 4242);
        Assert.True(SeccompFilter.Allows(own.Evaluate(SysTgkill, firstArgument: 4242))); // a vCPU kick
        Assert.True(SeccompFilter.Allows(own.Evaluate(SysKill, firstArgument: 4242)));
        Assert.Equal(Kill, own.Evaluate(SysKill, firstArgument: 1));
        Assert.Equal(Kill, own.Evaluate(SysTgkill, firstArgument: 4243)); // the manager, another VM
        Assert.Equal(Kill, own.Evaluate(SysKill, firstArgument: 0)); // its process group
        Assert.Equal(Kill, Filter.Evaluate(SysKill)); // not on the list at all
    }

    [Fact]
    public void RefusedCallsFailWithEpermAndNothingElseMoves()
    {
        const uint Connect = 42, Eperm = 0x0005_0000 | 1;
        var filter = SeccompFilter.Build([Read, Clone, Socket], SeccompMode.Kill, refused: [Connect]);
        Assert.Equal(Eperm, filter.Evaluate(Connect));
        Assert.True(SeccompFilter.Allows(filter.Evaluate(Read)));
        Assert.True(SeccompFilter.Allows(filter.Evaluate(Socket, firstArgument: 1)));
        Assert.Equal(Kill, filter.Evaluate(Socket, firstArgument: 2));
        Assert.Equal(Enosys, filter.Evaluate(Clone3));
        Assert.Equal(Kill, filter.Evaluate(Ptrace));
        Assert.Equal(Kill, Filter.Evaluate(Connect)); // not refused unless asked
        Assert.Throws<ArgumentException>(() => SeccompFilter.Build([Read, Connect], SeccompMode.Kill, refused: [Connect]));
        Assert.Throws<ArgumentException>(() => SeccompFilter.Build([Read], SeccompMode.Kill, refused: [Socket]));
    }

    [Fact]
    public void OtherCallingConventionsAreRefused()
    {
        Assert.Equal(Kill, Filter.Evaluate(Read | 0x4000_0000)); // x32
        Assert.Equal(Kill, Filter.Evaluate(Read, arch: 0x4000_0003)); // i386 (int 0x80)
    }

    [Fact]
    public void LogModeLetsEverythingThroughButSaysSo()
    {
        var log = SeccompFilter.Build([Read], SeccompMode.Log);
        Assert.True(SeccompFilter.Allows(log.Evaluate(Read)));
        Assert.Equal(Log, log.Evaluate(Ptrace));
    }

    [Fact]
    public void IoctlReachesOnlyTheDriversGiven()
    {
        var filter = SeccompFilter.Build([Read, Ioctl], SeccompMode.Kill, ioctlTypes: [0xAE, (byte)'T']);
        Assert.True(SeccompFilter.Allows(filter.Evaluate(Ioctl, secondArgument: 0xAE80))); // KVM_RUN
        Assert.True(SeccompFilter.Allows(filter.Evaluate(Ioctl, secondArgument: 0x400454CA))); // TUNSETIFF
        Assert.True(SeccompFilter.Allows(filter.Evaluate(Ioctl, secondArgument: 0x5401))); // TCGETS
        Assert.Equal(Kill, filter.Evaluate(Ioctl, secondArgument: 0x8914)); // SIOCSIFFLAGS: a host interface down
        Assert.Equal(Kill, filter.Evaluate(Ioctl, secondArgument: 0x89A2)); // SIOCBRADDIF
        Assert.Equal(Kill, filter.Evaluate(Ioctl, secondArgument: 0x40049409)); // FICLONE
    }

    [Fact]
    public void CallsWithArgumentChecksAreDeniedWhenNotAskedFor()
    {
        var bare = SeccompFilter.Build([Read], SeccompMode.Kill, signalsOnlyTo: 7, ioctlTypes: [0xAE]);
        Assert.Equal(Kill, bare.Evaluate(Clone, firstArgument: ThreadFlags));
        Assert.Equal(Kill, bare.Evaluate(Clone3));
        Assert.Equal(Kill, bare.Evaluate(Socket, firstArgument: 1));
        Assert.Equal(Kill, bare.Evaluate(62, firstArgument: 7));
        Assert.Equal(Kill, bare.Evaluate(Ioctl, secondArgument: 0xAE80));
    }

    [Fact]
    public void TheVmmsListFitsOneProgram()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SeccompFilter.Build([Read], SeccompMode.Off));
        var tooMany = Enumerable.Range(1000, 300).Select(n => (uint)n);
        Assert.Throws<ArgumentException>(() => SeccompFilter.Build(tooMany, SeccompMode.Kill));
    }
}
