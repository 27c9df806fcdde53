using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Transport;

/// <summary>
/// The function's quiesce: the device's (<see cref="ThreadedVirtioDevice"/>). Notifies while quiesced ring the
/// doorbells as ever; the device serves them when the quiesce ends, and a function restored from the state looks at
/// every queue. A quiesce outlasts a restore: a function quiesced before <see cref="RestoreState"/> (a migration's
/// destination, until the source lets go of the guest) starts its device parked and serves nothing until
/// <see cref="Unquiesce"/>; one not quiesced goes on at once.
/// </summary>
public sealed partial class VirtioPciDevice : IQuiescentDevice
{
    private bool _quiesced; // under _lock: SaveState requires it of a running function

    public void Quiesce(TimeSpan deadline)
    {
        // The lock waits with the device: device threads never take it, and the vCPUs that do are paused.
        lock (_lock)
        {
            if (_device is IQuiescentDevice device)
            {
                try
                {
                    device.Quiesce(deadline);
                }
                catch (StateException e)
                {
                    throw new StateException($"PCI slot {Slot:x2}: {e.Message}");
                }
            }
            else if (_active)
            {
                throw new StateException($"PCI slot {Slot:x2}: virtio-{_device.Kind} cannot be quiesced, so its state cannot be saved");
            }

            _quiesced = true;
        }
    }

    public void Unquiesce()
    {
        lock (_lock)
        {
            _quiesced = false;
            (_device as IQuiescentDevice)?.Unquiesce();
        }
    }
}
