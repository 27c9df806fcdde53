namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>What the driver wrote about one queue through the common configuration, before the device uses it.</summary>
internal sealed class VirtioQueueRegisters(ushort maxSize)
{
    public ushort MaxSize { get; } = maxSize;

    public ushort Size { get; set; } = maxSize;

    public ushort MsixVector { get; set; } = VirtioPciLayout.NoVector;

    public bool Enabled { get; set; }

    public ulong DescriptorTable { get; set; }

    public ulong DriverArea { get; set; }

    public ulong DeviceArea { get; set; }

    /// <summary>Takes every register <paramref name="other"/> holds (a restore); both describe a queue of the same maximum.</summary>
    public void CopyFrom(VirtioQueueRegisters other)
    {
        Size = other.Size;
        MsixVector = other.MsixVector;
        Enabled = other.Enabled;
        DescriptorTable = other.DescriptorTable;
        DriverArea = other.DriverArea;
        DeviceArea = other.DeviceArea;
    }

    public void Reset()
    {
        Size = MaxSize;
        MsixVector = VirtioPciLayout.NoVector;
        Enabled = false;
        DescriptorTable = DriverArea = DeviceArea = 0;
    }
}
