using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// The common configuration's saved state: u32 device and driver feature selects, u64 driver features, u16 config
/// MSI-X vector, u8 device status, u16 queue select, then per queue u16 size, u16 MSI-X vector, bool enabled and u64
/// descriptor, driver and device area addresses. config_generation is not saved: it is always 0 here, as no
/// device's config changes while the driver uses it.
/// </summary>
internal sealed partial class VirtioCommonConfig
{
    /// <summary>Whether a device with this status serves its queues: DRIVER_OK, and neither FAILED nor NEEDS_RESET.</summary>
    public static bool Runs(VirtioStatus status, bool needsReset) =>
        status.HasFlag(VirtioStatus.DriverOk) && !status.HasFlag(VirtioStatus.Failed) && !needsReset;

    public void SaveState(StatePayload payload)
    {
        payload.U32(_deviceFeatureSelect).U32(_driverFeatureSelect).U64(DriverFeatures).U16(ConfigVector).U8((byte)Status).U16(_queueSelect);
        foreach (var queue in Queues)
        {
            payload.U16(queue.Size).U16(queue.MsixVector).Bool(queue.Enabled)
                .U64(queue.DescriptorTable).U64(queue.DriverArea).U64(queue.DeviceArea);
        }
    }

    /// <summary>
    /// Reads and checks what <see cref="SaveState"/> wrote, changing nothing; the returned action puts it in place.
    /// <paramref name="needsReset"/> is the transport's own flag, read before; <paramref name="running"/> says which
    /// queues the device serves once restored (the state holds their rings' runtime state next). Feature selects,
    /// queue select and addresses are any value a driver can write (addresses are checked when a queue is built);
    /// the queues a running device serves must have sizes it could have built.
    /// </summary>
    public Action ReadState(ref StatePayloadReader reader, string section, bool needsReset, out bool[] running)
    {
        var deviceFeatureSelect = reader.U32();
        var driverFeatureSelect = reader.U32();
        var driverFeatures = reader.U64();
        var configVector = reader.U16();
        StateFields.Require(IsVector(configVector), section, $"config MSI-X vector {configVector} is neither one of the function's {_vectorCount} nor NO_VECTOR");
        var status = (VirtioStatus)reader.U8();
        StateFields.Require(!status.HasFlag(VirtioStatus.NeedsReset), section, $"device status 0x{(byte)status:x2} holds NEEDS_RESET, which the transport keeps apart");
        StateFields.Require(!status.HasFlag(VirtioStatus.DriverOk) || status.HasFlag(VirtioStatus.FeaturesOk), section, $"device status 0x{(byte)status:x2} has DRIVER_OK without FEATURES_OK");
        StateFields.Require(
            !status.HasFlag(VirtioStatus.FeaturesOk) || FeaturesAcceptable(driverFeatures),
            section,
            $"driver features 0x{driverFeatures:x16} were accepted, but this function offers 0x{_offeredFeatures:x16}");
        var queueSelect = reader.U16();
        var runs = Runs(status, needsReset);
        var queues = new VirtioQueueRegisters[Queues.Count];
        running = new bool[Queues.Count];
        for (var q = 0; q < queues.Length; q++)
        {
            var maxSize = Queues[q].MaxSize;
            var queue = queues[q] = new VirtioQueueRegisters(maxSize)
            {
                Size = reader.U16(),
                MsixVector = reader.U16(),
                Enabled = reader.Bool(),
                DescriptorTable = reader.U64(),
                DriverArea = reader.U64(),
                DeviceArea = reader.U64(),
            };
            StateFields.Require(IsVector(queue.MsixVector), section, $"queue {q} MSI-X vector {queue.MsixVector} is neither one of the function's {_vectorCount} nor NO_VECTOR");
            running[q] = runs && queue.Enabled;
            StateFields.Require(
                !running[q] || (ushort.IsPow2(queue.Size) && queue.Size <= maxSize),
                section,
                $"queue {q} is in use with size {queue.Size}, not a power of two up to its {maxSize}");
        }

        return () =>
        {
            _deviceFeatureSelect = deviceFeatureSelect;
            _driverFeatureSelect = driverFeatureSelect;
            DriverFeatures = driverFeatures;
            ConfigVector = configVector;
            Status = status;
            _queueSelect = queueSelect;
            for (var q = 0; q < queues.Length; q++)
            {
                Queues[q].CopyFrom(queues[q]);
            }
        };
    }

    private bool IsVector(ushort vector) => vector == VirtioPciLayout.NoVector || vector < _vectorCount;
}
