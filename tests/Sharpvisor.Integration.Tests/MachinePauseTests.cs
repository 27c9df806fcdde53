using Sharpvisor.Cli;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Machine.Pause/Resume on /dev/kvm, in this process, with the test guest's `idle` scenario: a 100 Hz tick whose
/// handler loop makes two port I/O exits per tick, so the exit counters climb while the guest runs.
/// </summary>
public sealed class MachinePauseTests
{
    private static readonly TimeSpan Limit = TestTime.Ceiling(TimeSpan.FromSeconds(60));

    private sealed class RunningMachine : IDisposable
    {
        private readonly Thread _thread;
        private StopReason? _reason;

        public RunningMachine(int cpus, bool pauseFirst = false)
        {
            Machine = Machine.Create(new VmConfig { Kernel = BuiltInGuest.Load(), CommandLine = "idle", Cpus = cpus });
            if (pauseFirst)
            {
                Assert.Equal(MachineState.Paused, Machine.Pause());
            }

            _thread = new Thread(() => _reason = Machine.Run()) { IsBackground = true };
            _thread.Start();
        }

        public Machine Machine { get; }

        public StopReason StopAndJoin()
        {
            Machine.RequestStop(StopReason.Host("test"));
            Assert.True(_thread.Join(Limit), "Run did not return after the stop");
            return _reason!;
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                Machine.RequestStop(StopReason.Host("test cleanup"));
                _thread.Join(Limit);
            }

            Machine.Dispose();
        }
    }

    /// <summary>Waits until the total exit count passes <paramref name="count"/> (the guest is running).</summary>
    private static void WaitForExitsBeyond(Machine machine, long count)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (machine.TotalExits <= count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the guest made no exits beyond {count} in {Limit}");
            Thread.Sleep(10);
        }
    }

    [KvmFact]
    public void APausedGuestMakesNoExitsAndResumesWhereItWas()
    {
        using var vm = new RunningMachine(cpus: 1);
        WaitForExitsBeyond(vm.Machine, 20);
        Assert.Equal(MachineState.Running, vm.Machine.State);

        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        Assert.Equal(MachineState.Paused, vm.Machine.State);
        var frozen = vm.Machine.TotalExits;
        Thread.Sleep(250);
        Assert.Equal(frozen, vm.Machine.TotalExits);

        Assert.Equal(MachineState.Running, vm.Machine.Resume());
        Assert.Equal(MachineState.Running, vm.Machine.State);
        WaitForExitsBeyond(vm.Machine, frozen + 10);

        Assert.Equal(StopKind.HostRequest, vm.StopAndJoin().Kind);
    }

    [KvmFact]
    public void PauseAndResumeAreIdempotent()
    {
        using var vm = new RunningMachine(cpus: 1);
        WaitForExitsBeyond(vm.Machine, 20);
        Assert.Equal(MachineState.Running, vm.Machine.Resume());
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        Assert.Equal(MachineState.Running, vm.Machine.Resume());
        Assert.Equal(MachineState.Running, vm.Machine.Resume());
        vm.StopAndJoin();
    }

    [KvmFact]
    public void AStopWhilePausedWakesTheVcpusAndRunReturns()
    {
        using var vm = new RunningMachine(cpus: 2);
        WaitForExitsBeyond(vm.Machine, 20);
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());

        var reason = vm.StopAndJoin();

        Assert.Equal(StopKind.HostRequest, reason.Kind);
        Assert.Equal(MachineState.Stopping, vm.Machine.State);
        Assert.Equal(MachineState.Stopping, vm.Machine.Pause());
        Assert.Equal(MachineState.Stopping, vm.Machine.Resume());
    }

    [KvmFact]
    public void VcpusWaitingForStartupAreParkedToo()
    {
        // The guest starts no AP: vCPUs 1-3 sit in KVM_RUN waiting for INIT/SIPI, and must be kicked out.
        using var vm = new RunningMachine(cpus: 4);
        WaitForExitsBeyond(vm.Machine, 20);
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        var frozen = vm.Machine.TotalExits;
        Thread.Sleep(200);
        Assert.Equal(frozen, vm.Machine.TotalExits);
        vm.Machine.Resume();
        WaitForExitsBeyond(vm.Machine, frozen);
        vm.StopAndJoin();
    }

    [KvmFact]
    public void AMachinePausedBeforeItRunsDoesNotEnterTheGuestUntilResumed()
    {
        using var vm = new RunningMachine(cpus: 2, pauseFirst: true);
        Thread.Sleep(200);
        Assert.Equal(0, vm.Machine.TotalExits);
        Assert.Equal(MachineState.Paused, vm.Machine.State);
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());

        vm.Machine.Resume();
        WaitForExitsBeyond(vm.Machine, 20);
        vm.StopAndJoin();
    }

    [KvmFact]
    public void RapidPauseResumeCyclesNeitherHangNorSpin()
    {
        using var vm = new RunningMachine(cpus: 2);
        WaitForExitsBeyond(vm.Machine, 20);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(MachineState.Paused, vm.Machine.Pause());
            Assert.Equal(MachineState.Running, vm.Machine.Resume());
        }

        // After all those kicks the guest still makes progress, and a last pause still freezes it.
        var before = vm.Machine.TotalExits;
        WaitForExitsBeyond(vm.Machine, before + 10);
        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        var frozen = vm.Machine.TotalExits;
        Thread.Sleep(100);
        Assert.Equal(frozen, vm.Machine.TotalExits);
        vm.StopAndJoin();
    }

    [KvmFact]
    public void PauseAndResumeFromManyThreadsAtOnceSettle()
    {
        using var vm = new RunningMachine(cpus: 2);
        WaitForExitsBeyond(vm.Machine, 20);
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (var i = 0; i < 50; i++)
            {
                var state = (i + t) % 2 == 0 ? vm.Machine.Pause() : vm.Machine.Resume();
                Assert.NotEqual(MachineState.Stopping, state);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        Assert.All(threads, t => Assert.True(t.Join(Limit)));

        Assert.Equal(MachineState.Paused, vm.Machine.Pause());
        var frozen = vm.Machine.TotalExits;
        Thread.Sleep(100);
        Assert.Equal(frozen, vm.Machine.TotalExits);
        vm.Machine.Resume();
        WaitForExitsBeyond(vm.Machine, frozen);
        vm.StopAndJoin();
    }
}
