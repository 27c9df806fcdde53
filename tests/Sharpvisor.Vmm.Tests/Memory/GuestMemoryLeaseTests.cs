using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Tests.Memory;

/// <summary>Guest RAM stays mapped while anyone holds a lease, whatever order teardown takes.</summary>
public sealed class GuestMemoryLeaseTests
{
    [Fact]
    public void RamOutlivesItsOwnerWhileALeaseIsHeld()
    {
        var memory = GuestMemory.Create([(new GuestAddress(0), 1 << 20)]);
        var lease = memory.Lease();
        memory.Dispose(); // the owner goes first, as when a device thread is abandoned past its deadline
        Assert.True(memory.IsMapped);
        memory.Write(new GuestAddress(0x100), 0xC0FFEEu); // would fault on an unmapped page
        Assert.Equal(0xC0FFEEu, memory.Read<uint>(new GuestAddress(0x100)));

        lease.Dispose();
        lease.Dispose(); // a second release of one lease is not a second holder going
        Assert.False(memory.IsMapped);
        Assert.Throws<ObjectDisposedException>(memory.Lease);
    }

    [Fact]
    public void TheOwnerDisposingTwiceDoesNotReleaseALeaseHoldersClaim()
    {
        var memory = GuestMemory.Create([(new GuestAddress(0), 1 << 20)]);
        using var lease = memory.Lease();
        memory.Dispose();
        memory.Dispose();
        Assert.True(memory.IsMapped);
    }
}
