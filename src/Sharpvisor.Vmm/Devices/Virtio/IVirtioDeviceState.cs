using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio;

/// <summary>
/// A virtio device's own part of its function's saved state, beyond what the transport saves for every device
/// (features, status, queues): a NIC's MAC and a frame it holds, a console's buffered input. Both calls come with the
/// device quiesced or not running. A device without this interface saves nothing of its own.
/// </summary>
public interface IVirtioDeviceState
{
    void SaveDeviceState(StatePayload payload);

    /// <summary>
    /// Reads and checks what <see cref="SaveDeviceState"/> wrote (hostile input: a field out of range is a
    /// <see cref="StateException"/> naming <paramref name="section"/>), changing nothing; the returned action puts it
    /// in place. The transport calls it only once every other part of the section is checked, before it activates
    /// the device again. The caller checks that the reader is at its end afterwards.
    /// </summary>
    Action ReadDeviceState(ref StatePayloadReader reader, string section);
}
