namespace Sharpvisor.Vmm.Bus;

/// <summary>
/// Shows a device at a second address with its offsets shifted, for devices whose registers sit at
/// scattered ports (the i8042's 0x60 and 0x64, with the PIT's port 0x61 in between).
/// </summary>
public sealed class BusWindow(IBusDevice device, ulong offset) : IBusDevice
{
    public void Read(ulong relative, Span<byte> data) => device.Read(offset + relative, data);

    public void Write(ulong relative, ReadOnlySpan<byte> data) => device.Write(offset + relative, data);
}
