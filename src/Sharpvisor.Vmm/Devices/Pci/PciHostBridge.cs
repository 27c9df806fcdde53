namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// The host bridge at 00:00.0, there because guests expect function 0 of slot 0 to be one. It uses the ID pair
/// 8086:0d57, an Intel ID other Linux VMMs already present for a virtual host bridge, so guests bind no driver
/// to it and print nothing odd; class 06/00/00 (bridge, host bridge). No BARs, no capabilities.
/// </summary>
public sealed class PciHostBridge : PciDevice
{
    public const ushort VendorIntel = 0x8086;
    public const ushort HostBridgeDeviceId = 0x0D57;
    public const uint ClassHostBridge = 0x06_00_00;

    public PciHostBridge()
        : base(new PciConfigSpace(VendorIntel, HostBridgeDeviceId, ClassHostBridge))
    {
    }
}
