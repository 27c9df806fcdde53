namespace Sharpvisor.Vmm.Bus;

/// <summary>
/// A device reachable through port I/O or MMIO. the offset is relative to the start of the
/// range the device was registered at. Called on vCPU threads, possibly several at once: devices lock.
/// Data is the guest's access width (1, 2, 4 or 8 bytes), little-endian.
/// </summary>
public interface IBusDevice
{
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}
