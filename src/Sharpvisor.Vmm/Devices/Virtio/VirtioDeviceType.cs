namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>Virtio device IDs (virtio 1.2, section 5); the modern PCI device ID is 0x1040 plus this.</summary>
public enum VirtioDeviceType : ushort
{
    Net = 1,
    Block = 2,
    Console = 3,
    Entropy = 4,
    Gpu = 16,
    Input = 18,
}
