using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Gpu;
using Sharpvisor.Vmm.State;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;
using static Sharpvisor.Vmm.Tests.Devices.SavedState;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Gpu;

/// <summary>
/// virtio-gpu's saved state: the restored device holds the guest's resources and shows the heads again from the
/// backing in the restored RAM; a state this VM could not have made is refused whole.
/// </summary>
public sealed class VirtioGpuStateTests : IDisposable
{
    // The device's own part ends the section: events, heads, one head (7 words), resources, one resource (4 words),
    // its entry count and one entry (address, length).
    private const int DevicePart = 4 + 4 + 28 + 4 + 16 + 4 + 12;

    private readonly GpuDriver _source = new([new Framebuffer(64, 48)]);
    private readonly byte[] _pixels = [.. Enumerable.Range(0, 8 * 6 * 4).Select(i => (byte)(i * 7))];
    private VirtioPciDriver? _restored;

    public VirtioGpuStateTests()
    {
        _source.CreateBacked(9, GpuDriver.B8G8R8X8, 8, 6, _pixels);
        Assert.Equal(GpuDriver.OkNoData, _source.Transfer(9, 0, 0, 8, 6));
        Assert.Equal(GpuDriver.OkNoData, _source.SetScanout(0, 9, 2, 1, 6, 5));
        _source.Driver.Transport.Quiesce(TimeSpan.FromSeconds(10));
    }

    public void Dispose()
    {
        _restored?.Dispose();
        _source.Dispose();
    }

    [Fact]
    public void TheRestoredDeviceShowsTheGuestsPictureAndKnowsItsResources()
    {
        var section = Save(_source.Driver.Transport);
        var head = new Framebuffer(640, 480);
        var device = new VirtioGpu([head]);
        _restored = _source.Driver.CopyGuestTo(device);
        _restored.Transport.RestoreState(section);

        Assert.Equal((6, 5), head.Size);
        var shown = new byte[6 * 5 * 4];
        head.CopyTo(new Rect(0, 0, 6, 5), shown, 24);
        for (var y = 0; y < 5; y++)
        {
            Assert.Equal(_pixels.AsSpan((((y + 1) * 8) + 2) * 4, 24).ToArray(), shown.AsSpan(y * 24, 24).ToArray());
        }

        Assert.Equal(8 * 6 * 4, device.Counters["host_memory_bytes"]);
    }

    [Fact]
    public void AStateThatDoesNotFitThisVmIsRefused()
    {
        var section = Save(_source.Driver.Transport);
        var at = section.Payload.Length - DevicePart;
        using var twoHeads = new GpuDriver([new Framebuffer(8, 8), new Framebuffer(8, 8)]);
        twoHeads.Driver.Transport.Quiesce(TimeSpan.FromSeconds(10));
        AssertRefused(twoHeads.Driver.Transport, section, "1 display heads were saved, this VM has 2");
        AssertRefused(twoHeads.Driver.Transport, WithU32(section, at + 4, 2), "head 1 prefers"); // the second head is what follows: garbage
    }

    [Theory]
    [InlineData(0, 0x8000_0000u, "events")]                    // events_read bits the device never raises
    [InlineData(36, 5000u, "resources, over the limit")]         // more resources than a guest may hold
    [InlineData(40, 0u, "resource 0")]                           // resource id 0
    [InlineData(44, 99u, "is not one this GPU could have made")] // an unknown format
    [InlineData(48, 65536u, "takes the resources past")]        // 65536 x 65536: over the memory budget
    [InlineData(52, 0xFFFF_FFFFu, "is not one this GPU could have made")] // a side whose product would wrap
    [InlineData(48, 0x8000_0000u, "is not one this GPU could have made")]
    [InlineData(56, 0u, "backing entries")]                      // a backing of no entries
    [InlineData(68, 0u, "is empty")]                             // an entry of no bytes
    [InlineData(8, 77u, "shows resource 77")]                    // a head showing a resource that is not there
    [InlineData(20, 7u, "which it does not hold")]               // a head's rectangle wider than its resource
    public void AHostileStateIsRefused(int offset, uint value, string expected)
    {
        var section = Save(_source.Driver.Transport);
        var at = section.Payload.Length - DevicePart;
        if (offset == 48 && value == 65536)
        {
            section = WithU32(section, at + 52, 65536); // height too
        }

        using var target = new GpuDriver([new Framebuffer(8, 8)]);
        target.Driver.Transport.Quiesce(TimeSpan.FromSeconds(10));
        AssertRefused(target.Driver.Transport, WithU32(section, at + offset, value), expected);
    }

    [Fact]
    public void ADamagedStateIsRefused()
    {
        using var target = new GpuDriver([new Framebuffer(8, 8)]);
        target.Driver.Transport.Quiesce(TimeSpan.FromSeconds(10));
        Assert.Throws<StateException>(() => target.Driver.Transport.RestoreState(Extended(Save(_source.Driver.Transport))));
    }
}
