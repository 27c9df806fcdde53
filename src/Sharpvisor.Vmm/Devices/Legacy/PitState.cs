using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Legacy;

/// <summary>The PIT's saved state: its three counters in order, each as <see cref="PitCounter.Save"/> lays it out.</summary>
public sealed partial class Pit8254 : IDeviceState
{
    public string StateTag => "PIT ";

    public uint StateVersion => 1;

    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        lock (_lock)
        {
            var now = _clock.GetTimestamp();
            foreach (var counter in _counters)
            {
                counter.Save(payload, now);
            }
        }
    }

    public void RestoreState(StateSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var reader = section.Expect(StateVersion).Reader();
        lock (_lock)
        {
            var now = _clock.GetTimestamp();
            var counters = new PitCounter[CounterCount];
            for (var i = 0; i < CounterCount; i++)
            {
                counters[i] = PitCounter.Restore(ref reader, i, now, _clock.TimestampFrequency);
                if (i != SpeakerCounter && !counters[i].Gate)
                {
                    throw new StateException($"section PIT: counter {i}'s gate is low, but it is tied high");
                }
            }

            reader.ExpectEnd();
            counters.CopyTo(_counters);

            // As after any write to counter 0: the timer aims at its next rising edge. An edge that was due but not yet
            // delivered at the save merges into that one, as when the host timer runs late.
            ScheduleIrq0(now);
        }
    }
}

/// <summary>
/// A counter's saved state: u8 mode bits, u8 access, bool BCD; u32 count register, bools count written since the
/// control word, null count and high byte next, u8 pending low byte; bool high byte read next, bool + u32 latched count,
/// bool + u8 latched status; bool gate, bool loaded, u32 active count (1 to 0x10000 when loaded), u32 value while
/// unloaded, bool counting; u64 nanoseconds counted in the current run and u64 in the runs before it; u64 rising edges
/// reported. Times are durations, not timestamps, so they mean the same on another host or with another clock.
/// </summary>
internal sealed partial class PitCounter
{
    private const long NanosecondsPerSecond = 1_000_000_000;

    // Centuries of counting at any plausible timestamp rate, yet far enough below long's limit that sums of these
    // times and the elapsed host time cannot overflow.
    private const long MaxDurationTimestamps = long.MaxValue / 4;

    public void Save(StatePayload payload, long now)
    {
        payload.U8(_modeBits).U8((byte)_access).Bool(_bcd)
            .U32(_countRegister).Bool(_countWrittenSinceControlWord).Bool(_nullCount).Bool(_writeHighByteNext).U8(_pendingLowByte)
            .Bool(_readHighByteNext).Bool(_latchedCount is not null).U32(_latchedCount ?? 0)
            .Bool(_latchedStatus is not null).U8(_latchedStatus ?? 0)
            .Bool(_gate).Bool(_loaded).U32((uint)_activeCount).U32(_valueWhileUnloaded).Bool(_counting)
            .U64(Nanoseconds(_counting ? now - _countingSince : 0)).U64(Nanoseconds(_countedBeforeSince))
            .U64((ulong)_risingEdgesReported);
    }

    /// <summary>Reads what <see cref="Save"/> wrote into a new counter, its times ending at <paramref name="now"/>.</summary>
    public static PitCounter Restore(ref StatePayloadReader reader, int index, long now, long timestampFrequency)
    {
        var modeBits = reader.U8();
        Require(modeBits <= 7, index, $"mode {modeBits} is not 0 to 7");
        var access = reader.U8();
        Require(Enum.IsDefined((PitAccess)access), index, $"access {access} is not 1 to 3");
        var bcd = reader.Bool();
        var countRegister = U16(ref reader, index, "count register");
        var countWrittenSinceControlWord = reader.Bool();
        var nullCount = reader.Bool();
        var writeHighByteNext = reader.Bool();
        var pendingLowByte = reader.U8();
        var readHighByteNext = reader.Bool();
        var hasLatchedCount = reader.Bool();
        var latchedCount = U16(ref reader, index, "latched count");
        var hasLatchedStatus = reader.Bool();
        var latchedStatus = reader.U8();
        var gate = reader.Bool();
        var loaded = reader.Bool();
        var activeCount = reader.U32();
        Require(activeCount <= FullCount && (activeCount > 0 || !loaded), index, $"count {activeCount} is not 1 to 0x10000");
        var valueWhileUnloaded = U16(ref reader, index, "value");
        var counting = reader.Bool();
        var countingFor = Timestamps(reader.U64(), timestampFrequency, index, "counting time");
        var countedBefore = Timestamps(reader.U64(), timestampFrequency, index, "earlier counting time");
        var risingEdgesReported = reader.U64();
        Require(risingEdgesReported <= long.MaxValue, index, $"rising edge count {risingEdgesReported} is out of range");

        return new PitCounter(gate, timestampFrequency)
        {
            _modeBits = modeBits,
            _access = (PitAccess)access,
            _bcd = bcd,
            _countRegister = countRegister,
            _countWrittenSinceControlWord = countWrittenSinceControlWord,
            _nullCount = nullCount,
            _writeHighByteNext = writeHighByteNext,
            _pendingLowByte = pendingLowByte,
            _readHighByteNext = readHighByteNext,
            _latchedCount = hasLatchedCount ? latchedCount : null,
            _latchedStatus = hasLatchedStatus ? latchedStatus : null,
            _loaded = loaded,
            _activeCount = (int)activeCount,
            _valueWhileUnloaded = valueWhileUnloaded,
            _counting = counting,
            _countingSince = now - countingFor,
            _countedBeforeSince = countedBefore,
            _risingEdgesReported = (long)risingEdgesReported,
        };
    }

    private ulong Nanoseconds(long timestamps) => (ulong)((Int128)Math.Max(0, timestamps) * NanosecondsPerSecond / _timestampFrequency);

    private static long Timestamps(ulong nanoseconds, long timestampFrequency, int index, string field)
    {
        var timestamps = (Int128)nanoseconds * timestampFrequency / NanosecondsPerSecond;
        Require(timestamps <= MaxDurationTimestamps, index, $"{field} of {nanoseconds} ns is out of range");
        return (long)timestamps;
    }

    private static ushort U16(ref StatePayloadReader reader, int index, string field)
    {
        var value = reader.U32();
        Require(value <= ushort.MaxValue, index, $"{field} 0x{value:x} is wider than 16 bits");
        return (ushort)value;
    }

    private static void Require(bool valid, int index, string problem)
    {
        if (!valid)
        {
            throw new StateException($"section PIT: counter {index}'s {problem}");
        }
    }
}
