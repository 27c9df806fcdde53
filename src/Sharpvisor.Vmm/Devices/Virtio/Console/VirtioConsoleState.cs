using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Console;

/// <summary>The console's own saved state: as a byte string, the host input not yet given to the guest (within <see cref="InputBufferLimit"/>).</summary>
public sealed partial class VirtioConsole
{
    public override void SaveDeviceState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_inputLock)
        {
            payload.Bytes(_input.ToArray());
        }
    }

    public override Action ReadDeviceState(ref StatePayloadReader reader, string section)
    {
        // No limit for the reader, so that the check names the field; it still refuses a length past the end.
        var input = reader.Bytes(int.MaxValue).ToArray();
        StateFields.Require(input.Length <= InputBufferLimit, section, $"{input.Length} bytes of host input overfill the console's {InputBufferLimit}-byte buffer");
        return () =>
        {
            lock (_inputLock)
            {
                _input.Clear();
                foreach (var b in input)
                {
                    _input.Enqueue(b);
                }
            }

            if (input.Length > 0)
            {
                _inputReady.Signal();
            }
        };
    }
}
