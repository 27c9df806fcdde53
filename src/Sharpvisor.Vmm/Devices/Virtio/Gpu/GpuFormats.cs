using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Gpu;

/// <summary>Converting rows of a resource's format to the framebuffers' (bytes B, G, R, X).</summary>
internal static class GpuFormats
{
    public const int BytesPerPixel = 4;

    public static bool IsKnown(uint format) => Enum.IsDefined((GpuFormat)format);

    /// <summary>True when the format's bytes are already the framebuffer's (the alpha or unused byte is ignored).</summary>
    public static bool IsNative(GpuFormat format) => format is GpuFormat.B8G8R8X8 or GpuFormat.B8G8R8A8;

    /// <summary>Converts one row of <paramref name="format"/> pixels into B, G, R, X.</summary>
    public static void ToFramebuffer(GpuFormat format, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var (red, green, blue) = format switch
        {
            GpuFormat.A8R8G8B8 or GpuFormat.X8R8G8B8 => (1, 2, 3),
            GpuFormat.R8G8B8A8 or GpuFormat.R8G8B8X8 => (0, 1, 2),
            GpuFormat.X8B8G8R8 or GpuFormat.A8B8G8R8 => (3, 2, 1),
            _ => (2, 1, 0),
        };
        var pixels = Math.Min(source.Length, destination.Length) / BytesPerPixel;
        for (var p = 0; p < pixels; p++)
        {
            var i = p * BytesPerPixel;
            var pixel = (uint)source[i + blue] | ((uint)source[i + green] << 8) | ((uint)source[i + red] << 16);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[i..], pixel);
        }
    }
}
