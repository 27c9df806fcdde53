using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// A BAR's contents split into sub-ranges with their own handlers (common config, notify area, MSI-X table,
/// PBA ...). Offsets inside the BAR that no sub-range claims read as zero and ignore writes.
/// </summary>
public sealed class PciBarRegion : IBusDevice
{
    private readonly IoBus _ranges = new("pci-bar");

    public PciBarRegion Add(ulong offset, ulong length, IBusDevice handler)
    {
        _ranges.Register(offset, length, handler);
        return this;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        if (!_ranges.Read(offset, data))
        {
            data.Clear();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data) => _ranges.Write(offset, data);
}
