using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>virtio_gpu_rect: four unsigned 32-bit fields exactly as the guest sent them; check before use.</summary>
internal readonly record struct GpuRect(uint X, uint Y, uint Width, uint Height)
{
    public const int Size = 16;

    public static GpuRect Read(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]));

    /// <summary>The overlap of two rectangles (64-bit edges); empty when none.</summary>
    public GpuRect Intersect(GpuRect other)
    {
        var left = Math.Max(X, other.X);
        var top = Math.Max(Y, other.Y);
        var right = Math.Min((ulong)X + Width, (ulong)other.X + other.Width);
        var bottom = Math.Min((ulong)Y + Height, (ulong)other.Y + other.Height);
        return right <= left || bottom <= top ? default : new GpuRect(left, top, (uint)(right - left), (uint)(bottom - top));
    }

    public bool IsEmpty => Width == 0 || Height == 0;
}
