using System.Buffers.Binary;
using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Net;

/// <summary>
/// The NIC's own saved state: its MAC (6 bytes), u16 link status and u16 max_virtqueue_pairs as the driver reads
/// them, then as a byte string the frame read from the host and not yet given to the guest (empty when none). A
/// restored NIC keeps the saved MAC, the address the guest knows it by, whatever MAC it was built with.
/// </summary>
public sealed partial class VirtioNet
{
    public override void SaveDeviceState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.Raw(_config.AsSpan(0, 6))
            .U16(BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(6)))
            .U16(BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(8)))
            .Bytes(_frame.AsSpan(HeaderSize, _pendingLength));
    }

    public override Action ReadDeviceState(ref StatePayloadReader reader, string section)
    {
        var mac = reader.Raw(6).ToArray();
        StateFields.Require((mac[0] & 1) == 0, section, $"MAC {Convert.ToHexString(mac)} is a multicast address, no NIC's");
        var status = reader.U16();
        StateFields.Require((status & ~LinkUp) == 0, section, $"link status 0x{status:x4} sets bits this NIC does not offer");
        var pairs = reader.U16();
        StateFields.Require(pairs == 1, section, $"{pairs} queue pairs, this NIC has 1");

        // No limit for the reader, so that the check names the field; it still refuses a length past the end.
        var frame = reader.Bytes(int.MaxValue).ToArray();
        StateFields.Require(frame.Length <= MaxFrame, section, $"a pending frame of {frame.Length} bytes is over the {MaxFrame}-byte limit");
        return () =>
        {
            mac.CopyTo(_config, 0);
            BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(6), status);
            frame.CopyTo(_frame, HeaderSize);
            _pendingLength = frame.Length;
        };
    }
}
