using System.Buffers.Binary;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// The disk's saved state: its config (capacity and limits) as a byte string. Nothing of it is restored, as the disk
/// and not the state decides it; it is checked, so that a guest never goes on with a disk of another size than the
/// one it was using.
/// </summary>
public sealed partial class VirtioBlock
{
    public override void SaveDeviceState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.Bytes(_config);
    }

    public override Action ReadDeviceState(ref StatePayloadReader reader, string section)
    {
        var saved = reader.Bytes(int.MaxValue);
        StateFields.Require(saved.Length == ConfigSize, section, $"a virtio-blk config of {saved.Length} bytes, this one's has {ConfigSize}");
        var capacity = BinaryPrimitives.ReadUInt64LittleEndian(saved);
        var ours = BinaryPrimitives.ReadUInt64LittleEndian(_config);
        StateFields.Require(capacity == ours, section, $"a disk of {capacity} sectors, this one has {ours}: restore with the same --disk");
        StateFields.Require(saved.SequenceEqual(_config), section, "the disk's limits differ from this one's: restore with the same --disk");
        return () => { };
    }
}
