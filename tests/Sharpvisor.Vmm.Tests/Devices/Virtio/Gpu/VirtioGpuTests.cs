using System.Buffers.Binary;
using Sharpvisor.Display;
using Sharpvisor.Vmm.Devices.Virtio.Gpu;
using Sharpvisor.Vmm.Tests.Devices.Virtio.Transport;

namespace Sharpvisor.Vmm.Tests.Devices.Virtio.Gpu;

/// <summary>virtio-gpu 2D through the PCI transport: what a guest draws reaches the head, what a hostile one sends is refused.</summary>
public sealed class VirtioGpuTests : IDisposable
{
    private readonly Framebuffer _head = new(64, 48);
    private readonly GpuDriver _gpu;

    public VirtioGpuTests() => _gpu = new GpuDriver([_head, new Framebuffer(320, 200)]);

    public void Dispose() => _gpu.Dispose();

    [Fact]
    public void DisplayInfoNamesEveryHeadWithItsPreferredSize()
    {
        Assert.Equal(2u, (uint)_gpu.Driver.DeviceConfig(8, 4)); // num_scanouts
        Assert.Equal(GpuDriver.OkDisplayInfo, _gpu.Command(0x0100));
        Assert.Equal(24 + (16 * 24), _gpu.Response.Length);
        uint Field(int head, int word) => BinaryPrimitives.ReadUInt32LittleEndian(_gpu.Response.AsSpan(24 + (head * 24) + (word * 4)));
        Assert.Equal((64u, 48u, 1u), (Field(0, 2), Field(0, 3), Field(0, 4)));
        Assert.Equal((320u, 200u, 1u), (Field(1, 2), Field(1, 3), Field(1, 4)));
        Assert.Equal(0u, Field(2, 4));
    }

    [Theory]
    [InlineData(GpuDriver.B8G8R8X8, 0, 1, 2)]
    [InlineData(GpuDriver.X8R8G8B8, 3, 2, 1)]
    [InlineData(GpuDriver.R8G8B8X8, 2, 1, 0)]
    public void AFlushedRectangleReachesTheHeadInTheFramebuffersFormat(uint format, int blueAt, int greenAt, int redAt)
    {
        // A 16x8 resource, pixel (x, y) blue x, green y, red 200, laid out in the resource's format.
        var pixels = new byte[16 * 8 * 4];
        for (var i = 0; i < 16 * 8; i++)
        {
            pixels[(i * 4) + blueAt] = (byte)(i % 16);
            pixels[(i * 4) + greenAt] = (byte)(i / 16);
            pixels[(i * 4) + redAt] = 200;
        }

        _gpu.CreateBacked(5, format, 16, 8, pixels);
        Assert.Equal(GpuDriver.OkNoData, _gpu.Transfer(5, 0, 0, 16, 8));
        Assert.Equal(GpuDriver.OkNoData, _gpu.SetScanout(0, 5, 4, 2, 12, 6));
        Assert.Equal((12, 6), _head.Size);
        Assert.Equal(GpuDriver.OkNoData, _gpu.Flush(5, 0, 0, 16, 8));

        var shown = new byte[12 * 6 * 4];
        _head.CopyTo(new Rect(0, 0, 12, 6), shown, 12 * 4);
        for (var y = 0; y < 6; y++)
        {
            for (var x = 0; x < 12; x++)
            {
                var at = ((y * 12) + x) * 4;
                Assert.Equal(new byte[] { (byte)(x + 4), (byte)(y + 2), 200 }, shown[at..(at + 3)]);
            }
        }
    }

    [Fact]
    public void ATransferCopiesOnlyItsRectangleFromTheOffsetGiven()
    {
        var pixels = Enumerable.Range(0, 8 * 4 * 4).Select(i => (byte)i).ToArray();
        _gpu.CreateBacked(1, GpuDriver.B8G8R8X8, 8, 4, pixels);
        Assert.Equal(GpuDriver.OkNoData, _gpu.SetScanout(0, 1, 0, 0, 8, 4));
        // Rows 1..2, columns 2..4: Linux passes the offset of the rectangle's first pixel in the buffer.
        Assert.Equal(GpuDriver.OkNoData, _gpu.Transfer(1, 2, 1, 3, 2, offset: (1 * 32) + (2 * 4)));
        Assert.Equal(GpuDriver.OkNoData, _gpu.Flush(1, 0, 0, 8, 4));
        var shown = new byte[8 * 4 * 4];
        _head.CopyTo(new Rect(0, 0, 8, 4), shown, 32);
        for (var i = 0; i < shown.Length; i++)
        {
            var (x, y) = (i / 4 % 8, i / 32);
            var transferred = x is >= 2 and <= 4 && y is 1 or 2;
            Assert.Equal(transferred ? pixels[i] : 0, shown[i]);
        }
    }

    [Fact]
    public void AHugeResourceIsRefusedWithoutTakingHostMemory()
    {
        Assert.Equal(GpuDriver.ErrOutOfMemory, _gpu.Command(0x0101, 1, GpuDriver.B8G8R8X8, 65536, 65536));
        Assert.Equal(0, _gpu.Device.Counters["host_memory_bytes"]);
        using var small = new GpuDriver([new Framebuffer(8, 8)], maxHostMemory: 1 << 20);
        Assert.Equal(GpuDriver.OkNoData, small.Command(0x0101, 1, GpuDriver.B8G8R8X8, 256, 256)); // 256 KiB
        Assert.Equal(GpuDriver.OkNoData, small.Command(0x0101, 2, GpuDriver.B8G8R8X8, 512, 384)); // 768 KiB: 1 MiB in all
        Assert.Equal(GpuDriver.ErrOutOfMemory, small.Command(0x0101, 3, GpuDriver.B8G8R8X8, 1, 1));
        Assert.Equal(GpuDriver.OkNoData, small.Command(0x0102, 1, 0)); // unref gives it back
        Assert.Equal(GpuDriver.OkNoData, small.Command(0x0101, 3, GpuDriver.B8G8R8X8, 1, 1));
    }

    [Fact]
    public void TheHeadsFramebuffersCountAgainstTheHostMemoryBoundToo()
    {
        using var gpu = new GpuDriver([new Framebuffer(8, 8), new Framebuffer(8, 8)], maxHostMemory: 3 << 19); // 1.5 MiB
        gpu.CreateBacked(1, GpuDriver.B8G8R8X8, 512, 512, new byte[512 * 512 * 4]); // 1 MiB
        Assert.Equal(GpuDriver.OkNoData, gpu.SetScanout(0, 1, 0, 0, 512, 512));      // a 1 MiB head
        Assert.Equal(GpuDriver.ErrOutOfMemory, gpu.SetScanout(1, 1, 0, 0, 512, 512)); // a second would be 2 MiB of heads
        Assert.Equal(GpuDriver.OkNoData, gpu.SetScanout(1, 1, 0, 0, 256, 256));      // a quarter of it fits
        Assert.Equal(GpuDriver.ErrOutOfMemory, gpu.Command(0x0101, 2, GpuDriver.B8G8R8X8, 512, 512)); // and resources still have their own bound
    }

    [Theory]
    [InlineData(0u, GpuDriver.B8G8R8X8, 4u, 4u, GpuDriver.ErrInvalidResourceId)] // id 0 is no resource
    [InlineData(7u, 99u, 4u, 4u, GpuDriver.ErrInvalidParameter)]                  // an unknown format
    [InlineData(7u, GpuDriver.B8G8R8X8, 0u, 4u, GpuDriver.ErrInvalidParameter)]   // an empty resource
    [InlineData(7u, GpuDriver.B8G8R8X8, 0x8000_0000u, 0x8000_0000u, GpuDriver.ErrOutOfMemory)] // 2^64 bytes: must not wrap to 0
    [InlineData(7u, GpuDriver.B8G8R8X8, 1u, 0x4000_0000u, GpuDriver.ErrOutOfMemory)]
    public void ABadResourceIsRefused(uint id, uint format, uint width, uint height, uint answer) =>
        Assert.Equal(answer, _gpu.Command(0x0101, id, format, width, height));

    [Fact]
    public void RectanglesAndOffsetsOutsideTheResourceOrItsBackingAreRefused()
    {
        var backing = _gpu.CreateBacked(1, GpuDriver.B8G8R8X8, 16, 16, new byte[16 * 16 * 4]);
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Transfer(1, 0xFFFF_FFF0, 0, 0x20, 1)); // x + width wraps in 32 bits
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Transfer(1, 0, 0, 16, 17));
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Transfer(1, 0, 0, 16, 16, offset: 4));          // one pixel past the backing
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Transfer(1, 0, 0, 1, 1, offset: ulong.MaxValue - 2));
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.SetScanout(0, 1, 8, 8, 9, 8));
        Assert.Equal(GpuDriver.ErrInvalidScanoutId, _gpu.SetScanout(2, 1, 0, 0, 16, 16));
        Assert.Equal(GpuDriver.ErrInvalidScanoutId, _gpu.SetScanout(0xFFFF_FFFF, 1, 0, 0, 16, 16));
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Flush(1, 0, 15, 16, 2));
        Assert.Equal(GpuDriver.ErrInvalidResourceId, _gpu.Flush(2, 0, 0, 1, 1));
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Attach(1, (backing, 64))); // already backed
        Assert.Equal(GpuDriver.OkNoData, _gpu.Transfer(1, 0, 0, 16, 16));           // and the device still works
    }

    [Fact]
    public void BackingOutsideRamOrClaimingMoreEntriesThanSentIsRefused()
    {
        Assert.Equal(GpuDriver.OkNoData, _gpu.Command(0x0101, 1, GpuDriver.B8G8R8X8, 16, 16));
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Attach(1, (VirtioPciDriver.RamSize - 512, 1024)));        // runs off the end of RAM
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Attach(1, (0xFFFF_FFFF_FFFF_F000, 4096)));               // nowhere near RAM
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Command(0x0106, 1, 1000));                           // 1000 entries claimed, none sent
        Assert.Equal(GpuDriver.ErrInvalidParameter, _gpu.Command(0x0106, 1, GpuBacking.MaxEntries + 1));
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Transfer(1, 0, 0, 1, 1));                                 // still no backing
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Command(0x0107, 1, 0));                                   // nothing to detach
    }

    [Fact]
    public void AFencedCommandAnswersWithItsFenceAndAShortOrUnknownOneWithAnError()
    {
        var request = GpuDriver.Request(0x0102, 42, 0); // unref of a resource that does not exist
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(4), 1); // VIRTIO_GPU_FLAG_FENCE
        BinaryPrimitives.WriteUInt64LittleEndian(request.AsSpan(8), 0x1122_3344_5566_7788);
        Assert.Equal(GpuDriver.ErrInvalidResourceId, _gpu.Send(request));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(_gpu.Response.AsSpan(4)));
        Assert.Equal(0x1122_3344_5566_7788UL, BinaryPrimitives.ReadUInt64LittleEndian(_gpu.Response.AsSpan(8)));

        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Send(new byte[10]));
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Command(0x0200));               // 3D: not offered
        Assert.Equal(GpuDriver.ErrUnspecified, _gpu.Send(GpuDriver.Request(0x0101, 1, 2))); // too short for its type
        Assert.Equal(4, _gpu.Device.Counters["errors"]);
    }

    [Fact]
    public void TheCursorQueueSetsAndHidesTheHeadsPointerImage()
    {
        var image = new byte[64 * 64 * 4];
        image[(((5 * 64) + 7) * 4) + 3] = 0xFF; // one opaque pixel at (7, 5)
        _gpu.CreateBacked(4, 1 /* B8G8R8A8 */, 64, 64, image);
        Assert.Equal(GpuDriver.OkNoData, _gpu.Transfer(4, 0, 0, 64, 64));
        _gpu.Send(GpuDriver.Request(0x0300, 0, 10, 20, 0, 4, 7, 5, 0), queue: 1); // pos (scanout 0, 10, 20), resource 4, hotspot (7, 5)
        var cursor = _head.Cursor;
        Assert.NotNull(cursor);
        Assert.Equal((64, 64, 7, 5), (cursor.Width, cursor.Height, cursor.HotspotX, cursor.HotspotY));
        Assert.Equal(image, cursor.Pixels.ToArray());

        var errors = _gpu.Device.Counters["errors"];
        _gpu.Send(GpuDriver.Request(0x0300, 0, 0, 0, 0, 4, 64, 0, 0), queue: 1); // a hotspot outside the image
        _gpu.Send(GpuDriver.Request(0x0300, 9, 0, 0, 0, 4, 0, 0, 0), queue: 1); // no such head
        Assert.Equal(errors + 2, _gpu.Device.Counters["errors"]);
        Assert.Same(cursor, _head.Cursor);

        _gpu.Send(GpuDriver.Request(0x0300, 0, 0, 0, 0, 0, 0, 0, 0), queue: 1); // resource 0: hide it
        Assert.Null(_head.Cursor);
    }

    [Fact]
    public void UnreferencingTheShownResourceTurnsTheHeadOffAndKeepsItsPicture()
    {
        _gpu.CreateBacked(3, GpuDriver.B8G8R8X8, 4, 4, Enumerable.Repeat((byte)0x7F, 64).ToArray());
        Assert.Equal(GpuDriver.OkNoData, _gpu.Transfer(3, 0, 0, 4, 4));
        Assert.Equal(GpuDriver.OkNoData, _gpu.SetScanout(0, 3, 0, 0, 4, 4));
        Assert.Equal(GpuDriver.OkNoData, _gpu.Command(0x0102, 3, 0));
        Assert.Equal(GpuDriver.ErrInvalidResourceId, _gpu.Flush(3, 0, 0, 4, 4));
        var pixel = new byte[4];
        _head.CopyTo(new Rect(1, 1, 1, 1), pixel, 4);
        Assert.Equal(0x7F, pixel[0]);
    }
}
