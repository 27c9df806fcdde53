using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The PC's system control port B at 0x61 (length 1). Bit 0 is the gate of PIT counter 2 and bit 1 enables the
/// speaker (stored, no sound); bits 2 and 3 (parity and channel check disables) are stored too. Read-only: bit 4
/// toggles like the old DRAM refresh signal and bit 5 is counter 2's OUT, which Linux polls to calibrate the TSC.
/// Bits 6 and 7 (parity and I/O channel errors) read as 0: this machine has neither.
/// </summary>
public sealed partial class SystemControlPortB : IBusDevice
{
    public const ulong RangeLength = 1;

    private const byte Counter2Gate = 0x01;
    private const byte WritableBits = 0x0f;
    private const byte RefreshToggle = 0x10;
    private const byte Counter2Output = 0x20;

    private readonly Lock _lock = new();
    private readonly Pit8254 _pit;
    private byte _written;
    private bool _refresh;

    public SystemControlPortB(Pit8254 pit)
    {
        ArgumentNullException.ThrowIfNull(pit);
        _pit = pit;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = offset + (ulong)i == 0 ? ReadStatus() : (byte)0xff;
            }
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (var i = 0; i < data.Length; i++)
            {
                if (offset + (ulong)i == 0)
                {
                    _written = (byte)(data[i] & WritableBits);

                    // Under this lock so two vCPUs writing at once leave the gate matching the stored bit.
                    _pit.Counter2Gate = (_written & Counter2Gate) != 0;
                }
            }
        }
    }

    private byte ReadStatus()
    {
        // Code that waits for the refresh bit only needs it to change; toggling per read guarantees that
        // without a clock.
        _refresh = !_refresh;
        return (byte)(_written | (_refresh ? RefreshToggle : 0) | (_pit.Counter2Output ? Counter2Output : 0));
    }
}
