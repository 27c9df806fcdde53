using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Devices.Virtio.Net;

/// <summary>
/// The announcement a migrated NIC makes from its new host, as QEMU's self-announce does: a broadcast RARP request
/// from the guest's MAC, so that switches and bridges learn at once that the MAC now sits behind this TAP, instead of
/// sending the guest's traffic to the old port until the guest itself speaks.
/// </summary>
public sealed partial class VirtioNet
{
    /// <summary>An Ethernet frame's minimum length without its FCS: the RARP frame is padded to it.</summary>
    private const int MinimumFrame = 60;

    /// <summary>Sends the announcement once; false when the host dropped it (a full or down interface).</summary>
    public bool Announce()
    {
        var frame = new byte[MinimumFrame];
        var mac = _config.AsSpan(0, 6);
        frame.AsSpan(0, 6).Fill(0xff); // to everyone
        mac.CopyTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x8035); // RARP
        var rarp = frame.AsSpan(14);
        BinaryPrimitives.WriteUInt16BigEndian(rarp, 1); // hardware: Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(rarp[2..], 0x0800); // protocol: IPv4
        rarp[4] = 6; // hardware address length
        rarp[5] = 4; // protocol address length
        BinaryPrimitives.WriteUInt16BigEndian(rarp[6..], 3); // request reverse
        mac.CopyTo(rarp[8..]); // sender hardware address; its IPv4 address (4 bytes) stays 0
        mac.CopyTo(rarp[18..]); // target hardware address; its IPv4 address stays 0
        return _backend.Send(frame);
    }
}
