using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Virtio.Input;

/// <summary>
/// The input device's own saved state: the config selector the driver last wrote (select, subsel) and the events
/// queued for the guest and not yet delivered (u32 count, then 8 bytes each), so no keystroke is lost in a migration.
/// </summary>
public sealed partial class VirtioInput
{
    public override void SaveDeviceState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U8(_config[0]).U8(_config[1]).U32((uint)_pending.Count);
            foreach (var e in _pending)
            {
                payload.U32(e.Type | ((uint)e.Code << 16)).U32(e.Value);
            }
        }
    }

    public override Action ReadDeviceState(ref StatePayloadReader reader, string section)
    {
        var (select, subsel) = (reader.U8(), reader.U8());
        var count = reader.U32();
        StateFields.Require(count <= MaxPendingEvents, section, $"{count} pending input events, over the limit of {MaxPendingEvents}");
        var events = new InputEvent[count];
        for (var i = 0; i < count; i++)
        {
            var typeAndCode = reader.U32();
            events[i] = new InputEvent((ushort)typeAndCode, (ushort)(typeAndCode >> 16), reader.U32());
        }

        return () =>
        {
            WriteConfig(0, [select, subsel]);
            lock (_lock)
            {
                _pending.Clear();
                foreach (var e in events)
                {
                    _pending.Enqueue(e);
                }
            }

            if (events.Length > 0)
            {
                _eventsReady.Signal();
            }
        };
    }
}
