namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// The 32-bit formats a 2D resource may have (virtio_gpu_formats), named by their bytes in memory: B8G8R8X8 is
/// bytes B, G, R, X, what Linux's XRGB8888 is on x86 and what our framebuffers hold, so it needs no conversion.
/// </summary>
internal enum GpuFormat : uint
{
    B8G8R8A8 = 1,
    B8G8R8X8 = 2,
    A8R8G8B8 = 3,
    X8R8G8B8 = 4,
    R8G8B8A8 = 67,
    X8B8G8R8 = 68,
    A8B8G8R8 = 121,
    R8G8B8X8 = 134,
}
