using System.Buffers.Binary;
using Sharpvisor.Vmm.Bus;

namespace Sharpvisor.Vmm.Devices.Interrupts;

/// <summary>
/// An 82093AA-style I/O APIC emulated in user space (KVM split irqchip): 24 redirection entries, each turning
/// a device's interrupt pin into an MSI to the in-kernel local APICs. Edge-triggered pins fire on a rising
/// edge; level-triggered pins fire while asserted and not awaiting EOI (remote IRR), and fire again after the
/// EOI if the line is still high.
/// </summary>
public sealed partial class IoApic : IBusDevice
{
    public const ulong DefaultBase = 0xFEC0_0000;
    public const ulong RangeLength = 0x1000;
    public const int PinCount = 24;

    private const int RegisterSelectOffset = 0x00;
    private const int WindowOffset = 0x10;
    private const uint IdRegister = 0x00;
    private const uint VersionRegister = 0x01;
    private const uint ArbitrationRegister = 0x02;
    private const uint FirstRedirectionRegister = 0x10;

    // Version 0x11 (no EOI register): EOIs reach us through the local APIC's broadcast (KVM_EXIT_IOAPIC_EOI).
    private const uint Version = 0x11 | ((PinCount - 1) << 16);

    private readonly Lock _lock = new();
    private readonly IMsiSink _sink;
    private readonly RedirectionEntry[] _entries = new RedirectionEntry[PinCount];
    private readonly bool[] _lineLevel = new bool[PinCount];
    private uint _select;
    private uint _id;

    public IoApic(IMsiSink sink)
    {
        _sink = sink;
        for (var i = 0; i < PinCount; i++)
        {
            _entries[i] = RedirectionEntry.Reset;
        }
    }

    /// <summary>An interrupt line wired to one pin, for a device to drive.</summary>
    public IInterruptLine Pin(int pin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pin, PinCount);
        return new PinLine(this, pin);
    }

    public void SetLevel(int pin, bool asserted)
    {
        lock (_lock)
        {
            var wasAsserted = _lineLevel[pin];
            _lineLevel[pin] = asserted;
            var entry = _entries[pin];
            if (!asserted || entry.Masked)
            {
                return;
            }

            if (entry.LevelTriggered)
            {
                DeliverLevel(pin);
            }
            else if (!wasAsserted)
            {
                Deliver(entry);
            }
        }
    }

    /// <summary>The guest acknowledged <paramref name="vector"/> at a local APIC: clear remote IRR and re-fire a line still high.</summary>
    public void EndOfInterrupt(byte vector)
    {
        lock (_lock)
        {
            for (var pin = 0; pin < PinCount; pin++)
            {
                var entry = _entries[pin];
                if (entry.Vector != vector || !entry.LevelTriggered || !entry.RemoteIrr)
                {
                    continue;
                }

                _entries[pin] = entry.WithRemoteIrr(false);
                if (_lineLevel[pin] && !entry.Masked)
                {
                    DeliverLevel(pin);
                }
            }
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        uint value;
        lock (_lock)
        {
            value = offset switch
            {
                RegisterSelectOffset => _select,
                WindowOffset => ReadRegister(_select),
                _ => 0,
            };
        }

        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        data.Clear();
        bytes[..Math.Min(4, data.Length)].CopyTo(data);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        Span<byte> bytes = stackalloc byte[4];
        bytes.Clear();
        data[..Math.Min(4, data.Length)].CopyTo(bytes);
        var value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        lock (_lock)
        {
            if (offset == RegisterSelectOffset)
            {
                _select = value & 0xFF;
            }
            else if (offset == WindowOffset && WriteRegister(_select, value) is { } routes)
            {
                // Under the lock: the route table KVM holds is whole (every level pin), so two vCPUs committing the
                // tables they computed in one order and committing them in the other would leave a stale one.
                _sink.SetLevelTriggeredRoutes(routes);
            }
        }
    }

    private uint ReadRegister(uint index)
    {
        switch (index)
        {
            case IdRegister:
                return _id;
            case VersionRegister:
                return Version;
            case ArbitrationRegister:
                return _id;
        }

        if (RedirectionIndex(index) is { } pin)
        {
            var raw = _entries[pin].Raw;
            return (index & 1) == 0 ? (uint)raw : (uint)(raw >> 32);
        }

        return 0; // reserved registers read as zero
    }

    /// <summary>Returns the new level-triggered routes when a write changed them, else null.</summary>
    private List<(uint, ulong, uint)>? WriteRegister(uint index, uint value)
    {
        if (index == IdRegister)
        {
            _id = value & 0x0F00_0000;
            return null;
        }

        if (RedirectionIndex(index) is not { } pin)
        {
            return null; // version, arbitration and reserved registers are read-only
        }

        var old = _entries[pin];
        var updated = (index & 1) == 0 ? old.WithLow(value) : old.WithHigh(value);
        _entries[pin] = updated;

        // Unmasking a level-triggered pin whose line is already high fires it now.
        if (updated.LevelTriggered && !updated.Masked && _lineLevel[pin])
        {
            DeliverLevel(pin);
        }

        return old.LevelRoute(pin) == updated.LevelRoute(pin) ? null : LevelRoutes();
    }

    private List<(uint, ulong, uint)> LevelRoutes()
    {
        var routes = new List<(uint, ulong, uint)>();
        for (var pin = 0; pin < PinCount; pin++)
        {
            if (_entries[pin].LevelRoute(pin) is { } route)
            {
                routes.Add(route);
            }
        }

        return routes;
    }

    private void DeliverLevel(int pin)
    {
        var entry = _entries[pin];
        if (entry.RemoteIrr)
        {
            return; // still waiting for the guest's EOI
        }

        _entries[pin] = entry.WithRemoteIrr(true);
        Deliver(entry);
    }

    private void Deliver(RedirectionEntry entry) => _sink.SignalMsi(entry.MsiAddress, entry.MsiData);

    private static int? RedirectionIndex(uint index) =>
        index >= FirstRedirectionRegister && index < FirstRedirectionRegister + (2 * PinCount)
            ? (int)((index - FirstRedirectionRegister) / 2)
            : null;

    private sealed class PinLine(IoApic ioApic, int pin) : IInterruptLine
    {
        public void SetLevel(bool asserted) => ioApic.SetLevel(pin, asserted);
    }
}
