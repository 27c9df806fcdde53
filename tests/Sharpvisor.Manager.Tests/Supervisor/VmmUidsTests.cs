using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Tests.Supervisor;

/// <summary>One uid per running VMM, none a live process holds.</summary>
public sealed class VmmUidsTests
{
    private static readonly IReadOnlySet<uint> NoProcesses = new HashSet<uint>();

    [Fact]
    public void Each_VM_gets_its_own_uid_in_the_range_and_keeps_it_while_it_holds_it()
    {
        var uids = new VmmUids(1000, 8, () => NoProcesses);
        var vms = Enumerable.Range(0, 8).Select(_ => Guid.NewGuid()).ToList();
        var given = vms.Select(uids.Acquire).ToList();

        Assert.Equal(8, given.Distinct().Count());
        Assert.All(given, uid => Assert.InRange(uid, 1000u, 1007u));
        Assert.Equal(given[3], uids.Acquire(vms[3]));
    }

    [Fact]
    public void A_uid_a_live_process_has_is_never_given()
    {
        var live = new HashSet<uint> { 1000, 1001, 1003 };
        var uids = new VmmUids(1000, 4, () => live);

        Assert.Equal(1002u, uids.Acquire(Guid.NewGuid()));
        var fourth = Guid.NewGuid();
        Assert.Throws<InvalidOperationException>(() => uids.Acquire(fourth)); // the range is full

        live.Remove(1001); // that process exited
        Assert.Equal(1001u, uids.Acquire(fourth));
    }

    [Fact]
    public void A_released_uid_is_given_again_and_an_adopted_VMM_keeps_its_own()
    {
        var uids = new VmmUids(1000, 2, () => NoProcesses);
        var adopted = Guid.NewGuid();
        uids.Hold(adopted, 1001);
        var started = Guid.NewGuid();
        Assert.Equal(1000u, uids.Acquire(started));
        Assert.Throws<InvalidOperationException>(() => uids.Acquire(Guid.NewGuid()));

        uids.Release(adopted);
        var next = Guid.NewGuid();
        Assert.Equal(1001u, uids.Acquire(next));
        uids.Hold(Guid.NewGuid(), 5); // not one of the range's (a VMM run before confinement): not held
        uids.Release(started);
        Assert.Equal(1000u, uids.Acquire(Guid.NewGuid()));
    }

    [Fact]
    public void A_range_that_includes_root_or_wraps_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new VmmUids(0, 10, () => NoProcesses));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VmmUids(uint.MaxValue - 4, 10, () => NoProcesses));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VmmUids(1000, 0, () => NoProcesses));
    }
}
