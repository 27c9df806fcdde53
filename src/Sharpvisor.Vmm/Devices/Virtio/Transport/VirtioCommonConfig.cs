using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// The common configuration structure (virtio 1.2, 4.1.4.3) as registers. A write of any width is applied by
/// patching the current image and decoding each field it touched, so 64-bit addresses written as two dwords and
/// byte-wide status writes behave alike. The state machine itself (reset, FEATURES_OK, DRIVER_OK) is the
/// transport's: it is told through <see cref="StatusWritten"/>.
/// </summary>
internal sealed partial class VirtioCommonConfig
{
    private const int DeviceFeatureSelect = 0x00;
    private const int DeviceFeature = 0x04;
    private const int DriverFeatureSelect = 0x08;
    private const int DriverFeature = 0x0C;
    private const int ConfigMsixVector = 0x10;
    private const int NumQueues = 0x12;
    private const int DeviceStatus = 0x14;
    private const int ConfigGeneration = 0x15;
    private const int QueueSelect = 0x16;
    private const int QueueSize = 0x18;
    private const int QueueMsixVector = 0x1A;
    private const int QueueEnable = 0x1C;
    private const int QueueNotifyOff = 0x1E;
    private const int QueueDesc = 0x20;
    private const int QueueDriver = 0x28;
    private const int QueueDevice = 0x30;
    private const int Length = (int)VirtioPciLayout.CommonLength;

    private static readonly (int Offset, int Size)[] Fields =
    [
        (DeviceFeatureSelect, 4), (DeviceFeature, 4), (DriverFeatureSelect, 4), (DriverFeature, 4),
        (ConfigMsixVector, 2), (NumQueues, 2), (DeviceStatus, 1), (ConfigGeneration, 1), (QueueSelect, 2),
        (QueueSize, 2), (QueueMsixVector, 2), (QueueEnable, 2), (QueueNotifyOff, 2),
        (QueueDesc, 8), (QueueDriver, 8), (QueueDevice, 8),
    ];

    private readonly ulong _offeredFeatures;
    private readonly int _vectorCount;
    private uint _deviceFeatureSelect;
    private uint _driverFeatureSelect;
    private ushort _queueSelect;

    public VirtioCommonConfig(ulong offeredFeatures, IReadOnlyList<ushort> queueMaxSizes, int vectorCount)
    {
        _offeredFeatures = offeredFeatures;
        _vectorCount = vectorCount;
        Queues = [.. queueMaxSizes.Select(size => new VirtioQueueRegisters(size))];
    }

    public IReadOnlyList<VirtioQueueRegisters> Queues { get; }

    public ulong DriverFeatures { get; private set; }

    public ushort ConfigVector { get; private set; } = VirtioPciLayout.NoVector;

    /// <summary>The status the driver last set (NEEDS_RESET is the transport's to add).</summary>
    public VirtioStatus Status { get; set; }

    /// <summary>Called with the value of every status write, after the other fields of the same write are applied.</summary>
    public Action<VirtioStatus>? StatusWritten { get; set; }

    /// <summary>What FEATURES_OK accepts: offered bits only, and VERSION_1 among them (this transport is modern only).</summary>
    public bool FeaturesAcceptable(ulong features) => (features & ~_offeredFeatures) == 0 && (features & VirtioFeatures.Version1) != 0;

    /// <summary>Returns to the reset state: what a write of 0 to device_status does.</summary>
    public void Reset()
    {
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _queueSelect = 0;
        DriverFeatures = 0;
        ConfigVector = VirtioPciLayout.NoVector;
        Status = VirtioStatus.None;
        foreach (var queue in Queues)
        {
            queue.Reset();
        }
    }

    public void Read(ulong offset, Span<byte> data, VirtioStatus visibleStatus)
    {
        Span<byte> image = stackalloc byte[Length];
        Serialize(image, visibleStatus);
        CopyOut(image, offset, data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data, VirtioStatus visibleStatus)
    {
        if (offset >= Length || data.Length > Length - (int)offset)
        {
            return;
        }

        Span<byte> image = stackalloc byte[Length];
        Serialize(image, visibleStatus);
        data.CopyTo(image[(int)offset..]);
        var start = (int)offset;
        var end = start + data.Length;
        byte? status = null;
        foreach (var (field, size) in Fields)
        {
            if (field < end && start < field + size)
            {
                if (field == DeviceStatus)
                {
                    status = image[DeviceStatus];
                }
                else
                {
                    Apply(field, image.Slice(field, size));
                }
            }
        }

        if (status is { } value)
        {
            StatusWritten?.Invoke((VirtioStatus)value);
        }
    }

    private VirtioQueueRegisters? SelectedQueue => _queueSelect < Queues.Count ? Queues[_queueSelect] : null;

    private bool DriverOk => (Status & VirtioStatus.DriverOk) != 0;

    private void Apply(int field, ReadOnlySpan<byte> value)
    {
        var queue = SelectedQueue;
        // Queue registers are frozen once a queue is enabled or the device runs: a driver may not move a live ring.
        var queueWritable = queue is not null && !queue.Enabled && !DriverOk;
        switch (field)
        {
            case DeviceFeatureSelect:
                _deviceFeatureSelect = BinaryPrimitives.ReadUInt32LittleEndian(value);
                break;
            case DriverFeatureSelect:
                _driverFeatureSelect = BinaryPrimitives.ReadUInt32LittleEndian(value);
                break;
            case DriverFeature when (Status & VirtioStatus.FeaturesOk) == 0 && _driverFeatureSelect < 2:
                var shift = 32 * (int)_driverFeatureSelect;
                var half = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(value) << shift;
                DriverFeatures = (DriverFeatures & ~(0xFFFF_FFFFUL << shift)) | half;
                break;
            case ConfigMsixVector:
                ConfigVector = CheckedVector(BinaryPrimitives.ReadUInt16LittleEndian(value));
                break;
            case QueueSelect:
                _queueSelect = BinaryPrimitives.ReadUInt16LittleEndian(value);
                break;
            case QueueSize when queueWritable:
                queue!.Size = BinaryPrimitives.ReadUInt16LittleEndian(value);
                break;
            case QueueMsixVector when queue is not null:
                queue.MsixVector = CheckedVector(BinaryPrimitives.ReadUInt16LittleEndian(value));
                break;
            case QueueEnable when queueWritable && BinaryPrimitives.ReadUInt16LittleEndian(value) == 1:
                queue!.Enabled = true;
                break;
            case QueueDesc when queueWritable:
                queue!.DescriptorTable = BinaryPrimitives.ReadUInt64LittleEndian(value);
                break;
            case QueueDriver when queueWritable:
                queue!.DriverArea = BinaryPrimitives.ReadUInt64LittleEndian(value);
                break;
            case QueueDevice when queueWritable:
                queue!.DeviceArea = BinaryPrimitives.ReadUInt64LittleEndian(value);
                break;
            default:
                break; // read-only fields, or a write the current state does not allow: ignored
        }
    }

    /// <summary>A vector the function does not have reads back as NO_VECTOR, which tells the driver it was refused.</summary>
    private ushort CheckedVector(ushort vector) => vector < _vectorCount ? vector : VirtioPciLayout.NoVector;

    private void Serialize(Span<byte> image, VirtioStatus visibleStatus)
    {
        image.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(image[DeviceFeatureSelect..], _deviceFeatureSelect);
        var offered = _deviceFeatureSelect < 2 ? (uint)(_offeredFeatures >> (32 * (int)_deviceFeatureSelect)) : 0;
        BinaryPrimitives.WriteUInt32LittleEndian(image[DeviceFeature..], offered);
        BinaryPrimitives.WriteUInt32LittleEndian(image[DriverFeatureSelect..], _driverFeatureSelect);
        var accepted = _driverFeatureSelect < 2 ? (uint)(DriverFeatures >> (32 * (int)_driverFeatureSelect)) : 0;
        BinaryPrimitives.WriteUInt32LittleEndian(image[DriverFeature..], accepted);
        BinaryPrimitives.WriteUInt16LittleEndian(image[ConfigMsixVector..], ConfigVector);
        BinaryPrimitives.WriteUInt16LittleEndian(image[NumQueues..], (ushort)Queues.Count);
        image[DeviceStatus] = (byte)visibleStatus;
        image[ConfigGeneration] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(image[QueueSelect..], _queueSelect);
        if (SelectedQueue is { } queue)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image[QueueSize..], queue.Size);
            BinaryPrimitives.WriteUInt16LittleEndian(image[QueueMsixVector..], queue.MsixVector);
            BinaryPrimitives.WriteUInt16LittleEndian(image[QueueEnable..], queue.Enabled ? (ushort)1 : (ushort)0);
            BinaryPrimitives.WriteUInt16LittleEndian(image[QueueNotifyOff..], _queueSelect);
            BinaryPrimitives.WriteUInt64LittleEndian(image[QueueDesc..], queue.DescriptorTable);
            BinaryPrimitives.WriteUInt64LittleEndian(image[QueueDriver..], queue.DriverArea);
            BinaryPrimitives.WriteUInt64LittleEndian(image[QueueDevice..], queue.DeviceArea);
        }
    }

    private static void CopyOut(ReadOnlySpan<byte> image, ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset < (ulong)image.Length)
        {
            var available = image[(int)offset..];
            available[..Math.Min(available.Length, data.Length)].CopyTo(data);
        }
    }
}
