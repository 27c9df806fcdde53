using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Interrupts;

/// <summary>
/// The I/O APIC's saved state: u32 ID register, u32 register select, the 24 redirection entries as raw u64 (remote IRR
/// included), then the 24 pins' line levels as bools.
/// </summary>
public sealed partial class IoApic : IDeviceState
{
    public string StateTag => "IOAP";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            payload.U32(_id).U32(_select);
            foreach (var entry in _entries)
            {
                payload.U64(entry.Raw);
            }

            foreach (var level in _lineLevel)
            {
                payload.Bool(level);
            }
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var id = reader.U32();
        Require(id == (id & 0x0F00_0000), $"ID register 0x{id:x8} has bits outside the APIC ID field");
        var select = reader.U32();
        Require(select <= 0xFF, $"register select 0x{select:x} is wider than 8 bits");
        var entries = new RedirectionEntry[PinCount];
        for (var pin = 0; pin < PinCount; pin++)
        {
            var entry = new RedirectionEntry(reader.U64());

            // An entry is what the guest wrote plus the remote IRR this I/O APIC sets; delivery is instant here, so the
            // other read-only bit, delivery status, is never set.
            var written = RedirectionEntry.Reset.WithLow((uint)entry.Raw).WithHigh((uint)(entry.Raw >> 32));
            Require(written.WithRemoteIrr(entry.RemoteIrr) == entry, $"redirection entry {pin} 0x{entry.Raw:x16} has read-only bits set");
            entries[pin] = entry;
        }

        var levels = new bool[PinCount];
        for (var pin = 0; pin < PinCount; pin++)
        {
            levels[pin] = reader.Bool();
        }

        reader.ExpectEnd();

        lock (_lock)
        {
            _id = id;
            _select = select;
            entries.CopyTo(_entries);
            levels.CopyTo(_lineLevel);

            // KVM starts without the routes that make it report EOIs of level-triggered vectors to us.
            _sink.SetLevelTriggeredRoutes(LevelRoutes());
        }
    }

    private static void Require(bool valid, string problem)
    {
        if (!valid)
        {
            throw new StateException($"section IOAP: {problem}");
        }
    }
}
