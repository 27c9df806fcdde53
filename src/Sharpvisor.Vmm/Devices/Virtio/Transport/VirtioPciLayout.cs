namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// Where the virtio PCI structures sit in BAR 0 (virtio 1.2, 4.1.4), one page each so a driver can map them
/// separately:
/// <code>
/// 0x0000  common configuration        0x3000  notifications, 4 bytes per queue
/// 0x1000  ISR status                  0x4000  MSI-X table
/// 0x2000  device-specific config      0x5000  MSI-X pending bit array
/// </code>
/// </summary>
public static class VirtioPciLayout
{
    public const int Bar = 0;
    public const ulong BarSize = 0x8000;

    public const ulong CommonOffset = 0x0000;
    public const ulong CommonLength = 0x38;
    public const ulong IsrOffset = 0x1000;
    public const ulong IsrLength = 4;
    public const ulong DeviceConfigOffset = 0x2000;
    public const ulong DeviceConfigMaxLength = 0x1000;
    public const ulong NotifyOffset = 0x3000;
    public const ulong NotifyLength = 0x1000;
    public const uint NotifyOffMultiplier = 4;
    public const uint MsiXTableOffset = 0x4000;
    public const uint MsiXPbaOffset = 0x5000;

    /// <summary>The notify area has one 4-byte slot per queue, and the MSI-X table one vector per queue plus config.</summary>
    public const int MaxQueues = (int)(NotifyLength / NotifyOffMultiplier) - 1;

    public const ushort VendorId = 0x1AF4;
    public const ushort ModernDeviceIdBase = 0x1040;

    /// <summary>Modern-only devices use revision 1 and a subsystem ID of at least 0x40 (virtio 1.2, 4.1.2.1).</summary>
    public const byte Revision = 1;
    public const ushort SubsystemId = 0x40;

    public const ushort NoVector = 0xFFFF;

    // virtio_pci_cap.cfg_type values.
    public const byte CapCommon = 1;
    public const byte CapNotify = 2;
    public const byte CapIsr = 3;
    public const byte CapDevice = 4;
    public const byte CapPciConfig = 5;

    /// <summary>The PCI class code a guest expects per device type (what other VMMs present).</summary>
    public static uint ClassCode(VirtioDeviceType type) => type switch
    {
        VirtioDeviceType.Net => 0x02_00_00,     // network, Ethernet
        VirtioDeviceType.Block => 0x01_80_00,   // mass storage, other
        VirtioDeviceType.Console => 0x07_80_00, // communication, other
        VirtioDeviceType.Gpu => 0x03_80_00,     // display, other (not VGA: no legacy ranges)
        VirtioDeviceType.Input => 0x09_80_00,   // input device, other
        _ => 0xFF_00_00,                        // unclassified
    };
}
