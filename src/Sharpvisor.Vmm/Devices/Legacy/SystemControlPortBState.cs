using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// Port B's saved state: u8 the written bits, bool the refresh toggle. Counter 2's gate, which bit 0 drives, is the
/// PIT's and travels in its section.
/// </summary>
public sealed partial class SystemControlPortB : IDeviceState
{
    public string StateTag => "PORB";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U8(_written).Bool(_refresh);
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var written = reader.U8();
        if ((written & ~WritableBits) != 0)
        {
            throw new StateException($"section PORB: written bits 0x{written:x2} include read-only ones");
        }

        var refresh = reader.Bool();
        reader.ExpectEnd();

        lock (_lock)
        {
            _written = written;
            _refresh = refresh;
        }
    }
}
