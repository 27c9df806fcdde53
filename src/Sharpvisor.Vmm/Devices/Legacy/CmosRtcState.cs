using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>
/// The RTC's saved state: the 128 storage bytes (as a byte string), u8 index, u8 status A and B, u64 guest clock offset
/// from host UTC in 100 ns ticks, bool + 8 u8 the time frozen by SET (second, minute, hour, day of week, day, month,
/// year, century), u64 the guest-clock second status C last saw.
/// </summary>
/// <remarks>
/// The offset is from UTC, not from a timestamp: the guest's clock keeps running while the VM is saved, as the chip's
/// would on its battery and as kvmclock does on restore. The second status C saw is on that same guest clock, so it is
/// kept as is: the first read of status C after a restore reports the update the guest has not seen yet.
/// </remarks>
public sealed partial class CmosRtc : IDeviceState
{
    public string StateTag => "RTC ";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            var frozen = _timeFrozenBySet ?? default;
            payload.Bytes(_storage).U8(_index).U8(_statusA).U8(_statusB).U64((ulong)_guestClockOffsetTicks)
                .Bool(_timeFrozenBySet is not null)
                .U8((byte)frozen.Second).U8((byte)frozen.Minute).U8((byte)frozen.Hour).U8((byte)frozen.DayOfWeek)
                .U8((byte)frozen.Day).U8((byte)frozen.Month).U8((byte)frozen.YearOfCentury).U8((byte)frozen.Century)
                .U64((ulong)_secondSeenByStatusC);
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        var storage = reader.Bytes(int.MaxValue);
        Require(storage.Length == RegisterCount, $"storage has {storage.Length} bytes, not {RegisterCount}");
        var index = reader.U8();
        Require(index <= IndexMask, $"index 0x{index:x2} is past the last register");
        var statusA = reader.U8();
        Require((statusA & StatusAUpdateInProgress) == 0, $"status A 0x{statusA:x2} has the read-only UIP bit set");
        var statusB = reader.U8();
        var offset = (long)reader.U64();
        Require(offset >= -DateTime.MaxValue.Ticks && offset <= DateTime.MaxValue.Ticks, $"guest clock offset {offset} is longer than the calendar");
        var isFrozen = reader.Bool();

        // Each field is what the guest wrote, decoded: any byte may be there while it is halfway through setting the time.
        var frozen = new RtcTime(
            reader.U8(), reader.U8(), reader.U8(), reader.U8(), reader.U8(), reader.U8(), reader.U8(), reader.U8());
        Require(isFrozen == ((statusB & StatusBSet) != 0), $"status B 0x{statusB:x2} and whether the clock is stopped for setting disagree");
        Require(!isFrozen || (statusB & StatusBUpdateEndedInterrupt) == 0, $"status B 0x{statusB:x2} has UIE set with SET, which clears it");
        var secondSeenByStatusC = (long)reader.U64();
        Require(
            secondSeenByStatusC >= 0 && secondSeenByStatusC <= DateTime.MaxValue.Ticks / TimeSpan.TicksPerSecond,
            $"second seen by status C {secondSeenByStatusC} is outside the calendar");
        reader.ExpectEnd();

        lock (_lock)
        {
            storage.CopyTo(_storage);
            _index = index;
            _statusA = statusA;
            _statusB = statusB;
            _guestClockOffsetTicks = offset;
            _timeFrozenBySet = isFrozen ? frozen : null;
            _secondSeenByStatusC = secondSeenByStatusC;
        }
    }

    private static void Require(bool valid, string problem)
    {
        if (!valid)
        {
            throw new StateException($"section RTC: {problem}");
        }
    }
}
