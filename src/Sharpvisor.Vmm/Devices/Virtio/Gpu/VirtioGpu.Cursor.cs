using Sharpvisor.Display;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// The cursor queue: UPDATE_CURSOR gives a head the image of a resource (64x64 B8G8R8A8 from Linux) and its hotspot,
/// resource 0 hides it; MOVE_CURSOR only moves it, which a VNC client draws at its own pointer anyway. Bad values
/// are answered like any command's (the cursor queue has no response buffer, so they are counted, not returned).
/// </summary>
public sealed partial class VirtioGpu
{
    private uint UpdateCursor(uint scanoutId, uint resourceId, uint hotX, uint hotY)
    {
        if (scanoutId >= _scanouts.Length)
        {
            return GpuProtocol.ErrInvalidScanoutId;
        }

        var framebuffer = _scanouts[scanoutId].Framebuffer;
        if (resourceId == 0)
        {
            framebuffer.SetCursor(null);
            return GpuProtocol.OkNoData;
        }

        if (!_resources.TryGetValue(resourceId, out var resource))
        {
            return GpuProtocol.ErrInvalidResourceId;
        }

        if (resource.Width > DisplayCursor.MaxDimension || resource.Height > DisplayCursor.MaxDimension
            || hotX >= (uint)resource.Width || hotY >= (uint)resource.Height)
        {
            return GpuProtocol.ErrInvalidParameter;
        }

        var pixels = resource.Pixels;
        if (resource.Format != GpuFormat.B8G8R8A8)
        {
            // Without an alpha channel in the right place, every pixel shows: the image converted, opaque.
            pixels = new byte[resource.Pixels.Length];
            GpuFormats.ToFramebuffer(resource.Format, resource.Pixels, pixels);
            for (var pixel = 0; pixel < pixels.Length / GpuFormats.BytesPerPixel; pixel++)
            {
                pixels[(pixel * GpuFormats.BytesPerPixel) + 3] = 0xFF;
            }
        }

        framebuffer.SetCursor(new DisplayCursor(resource.Width, resource.Height, (int)hotX, (int)hotY, pixels));
        return GpuProtocol.OkNoData;
    }
}
