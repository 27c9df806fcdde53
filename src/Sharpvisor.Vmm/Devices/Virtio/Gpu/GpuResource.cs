namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>
/// A 2D resource: the host's copy of a guest image (<see cref="Pixels"/>, 4 bytes a pixel, rows packed) that
/// TRANSFER_TO_HOST_2D fills from the backing and RESOURCE_FLUSH shows on the scanouts that display it.
/// </summary>
internal sealed class GpuResource(uint id, GpuFormat format, int width, int height)
{
    public uint Id { get; } = id;

    public GpuFormat Format { get; } = format;

    public int Width { get; } = width;

    public int Height { get; } = height;

    public int Stride => Width * GpuFormats.BytesPerPixel;

    public byte[] Pixels { get; } = new byte[(long)width * height * GpuFormats.BytesPerPixel];

    public GpuBacking? Backing { get; set; }

    /// <summary>True when <paramref name="rect"/> is non-empty and lies inside the resource (64-bit sums: the guest chose them).</summary>
    public bool Contains(GpuRect rect) =>
        rect.Width > 0 && rect.Height > 0
        && (ulong)rect.X + rect.Width <= (ulong)Width
        && (ulong)rect.Y + rect.Height <= (ulong)Height;
}
